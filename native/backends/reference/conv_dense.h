// Reference dense convolution, forward and backward (part of reference_ops.h: conventions there).
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/backend.h"

namespace gnas {
namespace ref {

// ---- dense convolution: y[n][p][q][o] = sum_{i,j,c} x[n][p*stride-pad+i][q*stride-pad+j][c] * w[o][i][j][c]
// (taps outside the input are zero padding) ----
template <typename T>
void conv_forward(T* y, const T* x, const T* w, const ConvShape& s) {
  for (int n = 0; n < s.N; ++n)
    for (int p = 0; p < s.P; ++p)
      for (int q = 0; q < s.Q; ++q)
        for (int o = 0; o < s.K; ++o) {
          double acc = 0;
          for (int i = 0; i < s.k; ++i) {
            const int h = p * s.stride - s.pad + i;
            if (h < 0 || h >= s.H) continue;
            for (int j = 0; j < s.k; ++j) {
              const int ww = q * s.stride - s.pad + j;
              if (ww < 0 || ww >= s.W) continue;
              const T* xp = x + ((int64_t(n) * s.H + h) * s.W + ww) * s.C;
              const T* wp = w + ((int64_t(o) * s.k + i) * s.k + j) * s.C;
              for (int c = 0; c < s.C; ++c) acc += double(xp[c]) * double(wp[c]);
            }
          }
          y[((int64_t(n) * s.P + p) * s.Q + q) * s.K + o] = T(acc);
        }
}

// Scatters every output gradient back along the same taps as the forward.
template <typename T>
void conv_backward(T* dx, T* dw, const T* dy, const T* x, const T* w, const ConvShape& s) {
  std::vector<double> gx(dx ? size_t(s.in_size()) : 0, 0.0);
  std::vector<double> gw(size_t(s.K) * s.k * s.k * s.C, 0.0);
  for (int n = 0; n < s.N; ++n)
    for (int p = 0; p < s.P; ++p)
      for (int q = 0; q < s.Q; ++q)
        for (int o = 0; o < s.K; ++o) {
          const double g = double(dy[((int64_t(n) * s.P + p) * s.Q + q) * s.K + o]);
          for (int i = 0; i < s.k; ++i) {
            const int h = p * s.stride - s.pad + i;
            if (h < 0 || h >= s.H) continue;
            for (int j = 0; j < s.k; ++j) {
              const int ww = q * s.stride - s.pad + j;
              if (ww < 0 || ww >= s.W) continue;
              const int64_t xi = ((int64_t(n) * s.H + h) * s.W + ww) * s.C;
              const int64_t wi = ((int64_t(o) * s.k + i) * s.k + j) * s.C;
              for (int c = 0; c < s.C; ++c) {
                gw[size_t(wi + c)] += g * double(x[xi + c]);
                if (dx) gx[size_t(xi + c)] += g * double(w[wi + c]);
              }
            }
          }
        }
  for (size_t i = 0; i < gw.size(); ++i) dw[i] = T(gw[i]);
  if (dx)
    for (size_t i = 0; i < gx.size(); ++i) dx[i] = T(gx[i]);
}

}  // namespace ref
}  // namespace gnas
