// Default implementations of the Backend methods that are not pure virtual: straightforward
// loops, correct for any backend whose memory is host memory. Fast backends override them.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <new>

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

void* Backend::alloc(size_t bytes) {
  // Whole cache lines, so vector tails never read past the allocation.
  const size_t rounded = (std::max<size_t>(bytes, 1) + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded);
  if (!p) throw std::bad_alloc();
  return p;
}

void Backend::release(void* p) { std::free(p); }

void Backend::upload(void* dst, const void* src_host, size_t bytes) {
  if (bytes) std::memcpy(dst, src_host, bytes);
}

void Backend::download(void* dst_host, const void* src, size_t bytes) {
  if (bytes) std::memcpy(dst_host, src, bytes);
}

void Backend::copy(void* dst, const void* src, size_t bytes) {
  if (bytes && dst != src) std::memmove(dst, src, bytes);
}

void Backend::fill(float* x, float value, int64_t n) { std::fill(x, x + n, value); }

void Backend::bn_update_running(float* rm, float* rv, const float* mean, const float* invstd, float eps,
                                float momentum, int64_t M, int C, float* nonfinite) {
  const double m = momentum;
  const double unbias = M > 1 ? double(M) / double(M - 1) : 1.0;
  for (int c = 0; c < C; c++) {
    double var = 1.0 / (double(invstd[c]) * double(invstd[c])) - double(eps);
    if (var < 0) var = 0;
    rm[c] = float((1.0 - m) * rm[c] + m * mean[c]);
    rv[c] = float((1.0 - m) * rv[c] + m * var * unbias);
    if (nonfinite && !(std::isfinite(rm[c]) && std::isfinite(rv[c]))) *nonfinite = 1.0f;
  }
}

// Nearest-even rounding of a float to bfloat16 (its upper 16 bits), returned as a float; NaN kept.
static inline float round_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7f800000u) == 0x7f800000u) return f;  // inf and NaN unchanged
  u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

void Backend::conv_forward_fused_bf16(float* y, float* out_mean, float* out_invstd, float eps, const float* x,
                                      const BnAct* in_bn, const float* w, const ConvShape& s) {
  if (!host_memory()) {  // no host loops on device memory: plain FP32 (see backend.h)
    conv_forward_fused(y, out_mean, out_invstd, eps, x, in_bn, w, s);
    return;
  }
  Scratch act(*this), xs(*this), ws(*this);
  const float* a = activated_input(act, x, in_bn, s);
  const int64_t nx = s.in_size(), nw = int64_t(s.K) * s.k * s.k * s.C;
  float* xr = xs.floats(nx);
  float* wr = ws.floats(nw);
  for (int64_t i = 0; i < nx; i++) xr[i] = round_to_bf16(a[i]);
  for (int64_t i = 0; i < nw; i++) wr[i] = round_to_bf16(w[i]);
  conv_forward_fused(y, out_mean, out_invstd, eps, xr, nullptr, wr, s);
}

}  // namespace gnas
