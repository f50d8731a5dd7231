// Default implementations of the Backend methods that are not pure virtual: straightforward
// loops, correct for any backend whose memory is host memory. Fast backends override them.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <new>
#include <stdexcept>

#include "core/backend.h"
#include "core/host_memory.h"

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

// Whole cache lines (so vector tails never read past the allocation), given back to the system on
// release (core/host_memory.h).
void* Backend::alloc(size_t bytes) { return host_alloc(bytes); }

void Backend::release(void* p) { host_free(p); }

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

// n bfloat16-stored values of x widened to float (exact) into f.
static void widen(float* f, const float* x, int64_t n) {
  const uint16_t* h = reinterpret_cast<const uint16_t*>(x);
  for (int64_t i = 0; i < n; i++) {
    const uint32_t u = uint32_t(h[i]) << 16;
    std::memcpy(&f[i], &u, sizeof u);
  }
}
// y (float, n values) stored as bfloat16 into out, nearest even.
static void narrow(float* out, const float* y, int64_t n) {
  uint16_t* h = reinterpret_cast<uint16_t*>(out);
  for (int64_t i = 0; i < n; i++) {
    const float r = round_to_bf16(y[i]);
    uint32_t u;
    std::memcpy(&u, &r, sizeof u);
    h[i] = uint16_t(u >> 16);
  }
}

// The bfloat16 forward of a conv (dense or depthwise) emulated on the host: the input widened
// from its storage, activated, rounded to bfloat16 with the weights, the float op, the output
// rounded into its storage. Device memory: the plain float op (no storage choice allowed).
void Backend::bf16_forward_emulated(bool depthwise, float* y, float* out_mean, float* out_invstd, float eps,
                                    const float* x, const BnAct* in_bn, const float* w, const ConvShape& s,
                                    Bf16Io io) {
  auto op = [&](float* out, const float* in, const BnAct* bn, const float* wt) {
    if (depthwise) dwconv_forward_fused(out, out_mean, out_invstd, eps, in, bn, wt, s);
    else conv_forward_fused(out, out_mean, out_invstd, eps, in, bn, wt, s);
  };
  if (!host_memory()) {  // no host loops on device memory: plain FP32 (see backend.h)
    if (io.in || io.out) throw std::logic_error("bfloat16 storage needs a host-memory backend");
    op(y, x, in_bn, w);
    return;
  }
  Scratch wide(*this), act(*this), xs(*this), ws(*this), yf(*this);
  const int64_t nx = s.in_size(), nw = int64_t(depthwise ? 1 : s.K) * s.k * s.k * s.C;
  if (io.in) widen(wide.floats(nx), x, nx);
  const float* a = activated_input(act, io.in ? wide.data() : x, in_bn, s);
  float* xr = xs.floats(nx);
  float* wr = ws.floats(nw);
  for (int64_t i = 0; i < nx; i++) xr[i] = round_to_bf16(a[i]);
  for (int64_t i = 0; i < nw; i++) wr[i] = round_to_bf16(w[i]);
  float* out = io.out ? yf.floats(s.out_size()) : y;
  op(out, xr, nullptr, wr);
  if (io.out) narrow(y, out, s.out_size());
}

void Backend::conv_forward_fused_bf16(float* y, float* out_mean, float* out_invstd, float eps, const float* x,
                                      const BnAct* in_bn, const float* w, const ConvShape& s, Bf16Io io) {
  bf16_forward_emulated(false, y, out_mean, out_invstd, eps, x, in_bn, w, s, io);
}

void Backend::dwconv_forward_fused_bf16(float* y, float* out_mean, float* out_invstd, float eps, const float* x,
                                        const BnAct* in_bn, const float* w, const ConvShape& s, Bf16Io io) {
  bf16_forward_emulated(true, y, out_mean, out_invstd, eps, x, in_bn, w, s, io);
}

void Backend::bn_act_residual_apply(float* y, const float* x, const float* mean, const float* invstd,
                                    const float* gamma, const float* beta, Act act, const float* residual, int64_t M,
                                    int C, Bf16Io io) {
  const int64_t n = M * C;
  if (!io.in && !io.out) {
    bn_act_apply(y, x, mean, invstd, gamma, beta, act, M, C);
    if (residual) add_inplace(y, residual, n);
    return;
  }
  if (!host_memory()) throw std::logic_error("bfloat16 storage needs a host-memory backend");
  Scratch yf(*this), rf(*this);
  float* out = io.out ? yf.floats(n) : y;
  if (io.out) widen(out, x, n);  // x in bfloat16 as well; bn_act_apply then runs in place
  bn_act_apply(out, io.out ? out : x, mean, invstd, gamma, beta, act, M, C);
  if (residual) {
    const float* r = residual;
    if (io.in) {
      widen(rf.floats(n), residual, n);
      r = rf.data();
    }
    add_inplace(out, r, n);
  }
  if (io.out) narrow(y, out, n);
}

void Backend::mbconv_forward_eval(float* out, const float* x, const MbconvEval& b, float* expand_buf,
                                  float* dw_buf) {
  const float* h = x;
  if (b.expand_w) {
    conv_forward_fused(expand_buf, nullptr, nullptr, 0.0f, x, nullptr, b.expand_w, b.expand);
    h = expand_buf;
  }
  dwconv_forward_bn_act(dw_buf, h, b.expand_w ? &b.expand_bn : nullptr, b.dw_w, b.dw_bn, b.dw);
  if (b.se_w1)
    se_forward(dw_buf, b.se_pooled, b.se_hidden, b.se_gate, dw_buf, b.se_w1, b.se_b1, b.se_w2, b.se_b2, b.se);
  conv_forward_fused(out, nullptr, nullptr, 0.0f, dw_buf, nullptr, b.project_w, b.project);
  const BnAct& p = b.project_bn;
  bn_act_residual_apply(out, out, p.mean, p.invstd, p.gamma, p.beta, p.act, b.residual,
                        int64_t(b.project.N) * b.project.P * b.project.Q, b.project.K, Bf16Io{});
}

void Backend::head_forward_eval(float* pooled, const float* x, const float* w, const ConvShape& s, const float* gamma,
                                const float* beta, const float* running_mean, const float* running_var, float eps,
                                Act act, float* buf) {
  conv_forward_fused(buf, nullptr, nullptr, 0.0f, x, nullptr, w, s);
  bn_act_forward_eval(buf, buf, gamma, beta, running_mean, running_var, eps, act, int64_t(s.N) * s.P * s.Q, s.K);
  gap_forward(pooled, buf, s.N, s.P * s.Q, s.K);
}

}  // namespace gnas
