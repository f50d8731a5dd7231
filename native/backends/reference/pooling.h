// Reference global average pooling, forward and backward (part of reference_ops.h: conventions
// there).
#pragma once
#include <cmath>
#include <cstdint>

#include "core/backend.h"

namespace gnas {
namespace ref {

// ---- global average pool x[N][HW][C] -> y[N][C] ----
template <typename T>
void gap_forward(T* y, const T* x, int N, int HW, int C) {
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c) {
      double acc = 0;
      for (int i = 0; i < HW; ++i) acc += double(x[(int64_t(n) * HW + i) * C + c]);
      y[int64_t(n) * C + c] = T(acc / double(HW));
    }
}

template <typename T>
void gap_backward(T* dx, const T* dy, int N, int HW, int C) {
  for (int n = 0; n < N; ++n)
    for (int i = 0; i < HW; ++i)
      for (int c = 0; c < C; ++c) dx[(int64_t(n) * HW + i) * C + c] = T(double(dy[int64_t(n) * C + c]) / double(HW));
}

}  // namespace ref
}  // namespace gnas
