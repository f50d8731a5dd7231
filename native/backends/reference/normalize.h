// Reference input normalisation (part of reference_ops.h: conventions there).
#pragma once
#include <cmath>
#include <cstdint>

#include "core/backend.h"

namespace gnas {
namespace ref {

// ---- input normalisation (no backward: images are not trained) ----
template <typename T>
void normalize_u8(T* x, const uint8_t* src, const T* mean, const T* std, int64_t M, int C) {
  for (int64_t m = 0; m < M; ++m)
    for (int c = 0; c < C; ++c) {
      const int64_t i = m * C + c;
      x[i] = T((double(src[i]) / 255.0 - double(mean[c])) / double(std[c]));
    }
}

template <typename T>
void normalize_f32(T* x, const T* src, const T* mean, const T* std, int64_t M, int C) {
  for (int64_t m = 0; m < M; ++m)
    for (int c = 0; c < C; ++c) {
      const int64_t i = m * C + c;
      x[i] = T((double(src[i]) - double(mean[c])) / double(std[c]));
    }
}

}  // namespace ref
}  // namespace gnas
