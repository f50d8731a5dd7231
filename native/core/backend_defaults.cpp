// Default implementations of the Backend methods that are not pure virtual: straightforward
// loops, correct for any backend whose memory is host memory. Fast backends override them.
#include <algorithm>

#include "core/backend.h"

namespace gnas {

static inline float activate(Act act, float z) {
  switch (act) {
    case Act::ReLU:
      return z > 0.f ? z : 0.f;
    case Act::ReLU6:
      return std::min(std::max(z, 0.f), 6.f);
    case Act::HSwish:
      return z * std::min(std::max(z + 3.f, 0.f), 6.f) * (1.f / 6.f);
    case Act::None:
      break;
  }
  return z;
}

void Backend::bn_act_apply(float* y, const float* x, const float* mean, const float* invstd, const float* gamma,
                           const float* beta, Act act, int64_t M, int C) {
  for (int64_t m = 0; m < M; m++) {
    const float* xr = x + m * C;
    float* yr = y + m * C;
    for (int c = 0; c < C; c++) yr[c] = activate(act, gamma[c] * ((xr[c] - mean[c]) * invstd[c]) + beta[c]);
  }
}

}  // namespace gnas
