// Reference squeeze-excite, forward and backward (part of reference_ops.h: conventions there).
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/backend.h"

namespace gnas {
namespace ref {

// ---- squeeze-excite on x[N][HW][C] (see SEShape in core/backend.h) ----
template <typename T>
void se_forward(T* y, T* pooled, T* hidden, T* gate, const T* x, const T* w1, const T* b1, const T* w2,
                const T* b2, const SEShape& s) {
  std::vector<double> pd(size_t(s.C)), hd(size_t(s.R));
  for (int n = 0; n < s.N; ++n) {
    const T* xn = x + int64_t(n) * s.HW * s.C;
    for (int c = 0; c < s.C; ++c) {
      double acc = 0;
      for (int64_t i = 0; i < s.HW; ++i) acc += double(xn[i * s.C + c]);
      pd[size_t(c)] = acc / double(s.HW);
      pooled[int64_t(n) * s.C + c] = T(pd[size_t(c)]);
    }
    for (int r = 0; r < s.R; ++r) {
      double acc = double(b1[r]);
      for (int c = 0; c < s.C; ++c) acc += double(w1[int64_t(r) * s.C + c]) * pd[size_t(c)];
      hd[size_t(r)] = acc > 0 ? acc : 0.0;
      hidden[int64_t(n) * s.R + r] = T(hd[size_t(r)]);
    }
    for (int c = 0; c < s.C; ++c) {
      double acc = double(b2[c]);
      for (int r = 0; r < s.R; ++r) acc += double(w2[int64_t(c) * s.R + r]) * hd[size_t(r)];
      const double gt = 1.0 / (1.0 + std::exp(-acc));
      gate[int64_t(n) * s.C + c] = T(gt);
      for (int64_t i = 0; i < s.HW; ++i) {
        const int64_t xi = (int64_t(n) * s.HW + i) * s.C + c;
        y[xi] = T(double(x[xi]) * gt);
      }
    }
  }
}

// y = x * gate per image and channel (y may be x).
template <typename T>
void se_scale(T* y, const T* x, const T* gate, const SEShape& s) {
  for (int n = 0; n < s.N; ++n)
    for (int64_t i = 0; i < s.HW; ++i)
      for (int c = 0; c < s.C; ++c) {
        const int64_t xi = (int64_t(n) * s.HW + i) * s.C + c;
        y[xi] = T(double(x[xi]) * double(gate[int64_t(n) * s.C + c]));
      }
}

// dx = dy * gate + (d pooled) / HW, where the gate's gradient flows back through fc2, the relu
// (mask hidden > 0) and fc1 to pooled.
template <typename T>
void se_backward(T* dx, T* dw1, T* db1, T* dw2, T* db2, const T* dy, const T* x, const T* pooled,
                 const T* hidden, const T* gate, const T* w1, const T* w2, const SEShape& s) {
  std::vector<double> gw1(size_t(s.R) * s.C, 0.0), gb1(size_t(s.R), 0.0);
  std::vector<double> gw2(size_t(s.C) * s.R, 0.0), gb2(size_t(s.C), 0.0);
  std::vector<double> dlogit(size_t(s.C)), dpre(size_t(s.R)), dpool(size_t(s.C));
  for (int n = 0; n < s.N; ++n) {
    // d gate logit = (sum over pixels of dy * x) * gate * (1 - gate)
    for (int c = 0; c < s.C; ++c) {
      double acc = 0;
      for (int64_t i = 0; i < s.HW; ++i) {
        const int64_t xi = (int64_t(n) * s.HW + i) * s.C + c;
        acc += double(dy[xi]) * double(x[xi]);
      }
      const double g = double(gate[int64_t(n) * s.C + c]);
      dlogit[size_t(c)] = acc * g * (1.0 - g);
      gb2[size_t(c)] += dlogit[size_t(c)];
      for (int r = 0; r < s.R; ++r) gw2[size_t(c) * s.R + r] += dlogit[size_t(c)] * double(hidden[int64_t(n) * s.R + r]);
    }
    for (int r = 0; r < s.R; ++r) {
      double acc = 0;
      for (int c = 0; c < s.C; ++c) acc += dlogit[size_t(c)] * double(w2[int64_t(c) * s.R + r]);
      dpre[size_t(r)] = double(hidden[int64_t(n) * s.R + r]) > 0 ? acc : 0.0;
      gb1[size_t(r)] += dpre[size_t(r)];
      for (int c = 0; c < s.C; ++c) gw1[size_t(r) * s.C + c] += dpre[size_t(r)] * double(pooled[int64_t(n) * s.C + c]);
    }
    if (dx) {
      for (int c = 0; c < s.C; ++c) {
        double acc = 0;
        for (int r = 0; r < s.R; ++r) acc += dpre[size_t(r)] * double(w1[int64_t(r) * s.C + c]);
        dpool[size_t(c)] = acc / double(s.HW);
      }
      for (int64_t i = 0; i < s.HW; ++i)
        for (int c = 0; c < s.C; ++c) {
          const int64_t xi = (int64_t(n) * s.HW + i) * s.C + c;
          dx[xi] = T(double(dy[xi]) * double(gate[int64_t(n) * s.C + c]) + dpool[size_t(c)]);
        }
    }
  }
  for (size_t i = 0; i < gw1.size(); ++i) dw1[i] = T(gw1[i]);
  for (size_t i = 0; i < gb1.size(); ++i) db1[i] = T(gb1[i]);
  for (size_t i = 0; i < gw2.size(); ++i) dw2[i] = T(gw2[i]);
  for (size_t i = 0; i < gb2.size(); ++i) db2[i] = T(gb2[i]);
}

}  // namespace ref
}  // namespace gnas
