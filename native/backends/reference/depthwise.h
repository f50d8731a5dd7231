// Reference depthwise convolution, forward and backward (part of reference_ops.h: conventions there).
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/backend.h"

namespace gnas {
namespace ref {

// ---- depthwise convolution: y[n][p][q][c] = sum_{i,j} x[n][p*stride-pad+i][q*stride-pad+j][c] * w[i][j][c] ----
template <typename T>
void dwconv_forward(T* y, const T* x, const T* w, const ConvShape& s) {
  for (int n = 0; n < s.N; ++n)
    for (int p = 0; p < s.P; ++p)
      for (int q = 0; q < s.Q; ++q)
        for (int c = 0; c < s.C; ++c) {
          double acc = 0;
          for (int i = 0; i < s.k; ++i) {
            const int h = p * s.stride - s.pad + i;
            if (h < 0 || h >= s.H) continue;
            for (int j = 0; j < s.k; ++j) {
              const int ww = q * s.stride - s.pad + j;
              if (ww < 0 || ww >= s.W) continue;
              acc += double(x[((int64_t(n) * s.H + h) * s.W + ww) * s.C + c]) *
                     double(w[(int64_t(i) * s.k + j) * s.C + c]);
            }
          }
          y[((int64_t(n) * s.P + p) * s.Q + q) * s.C + c] = T(acc);
        }
}

template <typename T>
void dwconv_backward(T* dx, T* dw, const T* dy, const T* x, const T* w, const ConvShape& s) {
  std::vector<double> gx(dx ? size_t(s.in_size()) : 0, 0.0);
  std::vector<double> gw(size_t(s.k) * s.k * s.C, 0.0);
  for (int n = 0; n < s.N; ++n)
    for (int p = 0; p < s.P; ++p)
      for (int q = 0; q < s.Q; ++q)
        for (int c = 0; c < s.C; ++c) {
          const double g = double(dy[((int64_t(n) * s.P + p) * s.Q + q) * s.C + c]);
          for (int i = 0; i < s.k; ++i) {
            const int h = p * s.stride - s.pad + i;
            if (h < 0 || h >= s.H) continue;
            for (int j = 0; j < s.k; ++j) {
              const int ww = q * s.stride - s.pad + j;
              if (ww < 0 || ww >= s.W) continue;
              const int64_t xi = ((int64_t(n) * s.H + h) * s.W + ww) * s.C + c;
              const int64_t wi = (int64_t(i) * s.k + j) * s.C + c;
              gw[size_t(wi)] += g * double(x[xi]);
              if (dx) gx[size_t(xi)] += g * double(w[wi]);
            }
          }
        }
  for (size_t i = 0; i < gw.size(); ++i) dw[i] = T(gw[i]);
  if (dx)
    for (size_t i = 0; i < gx.size(); ++i) dx[i] = T(gx[i]);
}

}  // namespace ref
}  // namespace gnas
