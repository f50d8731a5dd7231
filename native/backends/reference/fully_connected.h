// Reference fully connected layer, forward and backward (part of reference_ops.h: conventions
// there).
#pragma once
#include <cmath>
#include <cstdint>

#include "core/backend.h"

namespace gnas {
namespace ref {

// ---- fully connected: y[n][o] = sum_c x[n][c] * w[o][c] + b[o] ----
template <typename T>
void fc_forward(T* y, const T* x, const T* w, const T* b, int N, int C, int K) {
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < K; ++o) {
      double acc = double(b[o]);
      for (int c = 0; c < C; ++c) acc += double(x[int64_t(n) * C + c]) * double(w[int64_t(o) * C + c]);
      y[int64_t(n) * K + o] = T(acc);
    }
}

template <typename T>
void fc_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, int N, int C, int K) {
  for (int o = 0; o < K; ++o) {
    double acc = 0;
    for (int n = 0; n < N; ++n) acc += double(dy[int64_t(n) * K + o]);
    db[o] = T(acc);
    for (int c = 0; c < C; ++c) {
      double a = 0;
      for (int n = 0; n < N; ++n) a += double(dy[int64_t(n) * K + o]) * double(x[int64_t(n) * C + c]);
      dw[int64_t(o) * C + c] = T(a);
    }
  }
  if (dx)
    for (int n = 0; n < N; ++n)
      for (int c = 0; c < C; ++c) {
        double a = 0;
        for (int o = 0; o < K; ++o) a += double(dy[int64_t(n) * K + o]) * double(w[int64_t(o) * C + c]);
        dx[int64_t(n) * C + c] = T(a);
      }
}

}  // namespace ref
}  // namespace gnas
