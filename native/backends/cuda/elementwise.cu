// Elementwise kernels of the CUDA backend: fill, residual add, SGD. All are grid-stride loops with
// 64-bit indices; the float4 paths run only on 16-byte aligned pointers and cover the first
// floor(n / 4) * 4 elements, the tail (< 4 elements) is done by scalar code, so nothing is read or
// written past n.
#include "backends/cuda/kernel_helpers.cuh"
#include "backends/cuda/launchers.h"

namespace gnas {
namespace cuda {
namespace {

// ---- fill ----
__global__ void fill_kernel(float* __restrict__ x, float v, int64_t n, bool vec) {
  int64_t start = 0;
  if (vec) {
    const int64_t n4 = n >> 2;
    float4* x4 = reinterpret_cast<float4*>(x);
    for (int64_t i = gtid(); i < n4; i += gstride()) x4[i] = make_float4(v, v, v, v);
    start = n4 << 2;
  }
  for (int64_t i = start + gtid(); i < n; i += gstride()) x[i] = v;
}

// ---- y += x ----
__global__ void add_kernel(float* y, const float* x, int64_t n, bool vec) {
  // no __restrict__: add_inplace(y, y) is legal (each element is read then written by one thread)
  int64_t start = 0;
  if (vec) {
    const int64_t n4 = n >> 2;
    float4* y4 = reinterpret_cast<float4*>(y);
    const float4* x4 = reinterpret_cast<const float4*>(x);
    for (int64_t i = gtid(); i < n4; i += gstride()) {
      float4 a = y4[i];
      const float4 b = x4[i];
      a.x += b.x; a.y += b.y; a.z += b.z; a.w += b.w;
      y4[i] = a;
    }
    start = n4 << 2;
  }
  for (int64_t i = start + gtid(); i < n; i += gstride()) y[i] = y[i] + x[i];
}

// ---- SGD with momentum, in double as the reference ----
__device__ __forceinline__ void sgd_one(float& w, float& v, float g, double lr, double mo, double wd, bool nesterov) {
  const double gp = double(g) + wd * double(w);
  const double vn = mo * double(v) + gp;
  const double step = nesterov ? gp + mo * vn : vn;
  v = float(vn);
  w = float(double(w) - lr * step);
}

// nonfinite (may be null) gets 1.0f from any thread that produced an inf or NaN: every writer
// stores the same value, so the unordered stores need no atomics.
__global__ void sgd_kernel(float* __restrict__ w, float* __restrict__ vel, const float* __restrict__ g, int64_t n,
                           double lr, double mo, double wd, bool nesterov, bool vec, float* nonfinite) {
  bool bad = false;
  int64_t start = 0;
  if (vec) {
    const int64_t n4 = n >> 2;
    float4* w4 = reinterpret_cast<float4*>(w);
    float4* v4 = reinterpret_cast<float4*>(vel);
    const float4* g4 = reinterpret_cast<const float4*>(g);
    for (int64_t i = gtid(); i < n4; i += gstride()) {
      float4 a = w4[i], b = v4[i];
      const float4 c = g4[i];
      sgd_one(a.x, b.x, c.x, lr, mo, wd, nesterov);
      sgd_one(a.y, b.y, c.y, lr, mo, wd, nesterov);
      sgd_one(a.z, b.z, c.z, lr, mo, wd, nesterov);
      sgd_one(a.w, b.w, c.w, lr, mo, wd, nesterov);
      bad |= !(finite_value(a.x) && finite_value(a.y) && finite_value(a.z) && finite_value(a.w) && finite_value(b.x) &&
               finite_value(b.y) && finite_value(b.z) && finite_value(b.w));
      w4[i] = a;
      v4[i] = b;
    }
    start = n4 << 2;
  }
  for (int64_t i = start + gtid(); i < n; i += gstride()) {
    float a = w[i], b = vel[i];
    sgd_one(a, b, g[i], lr, mo, wd, nesterov);
    bad |= !(finite_value(a) && finite_value(b));
    w[i] = a;
    vel[i] = b;
  }
  if (bad && nonfinite) *nonfinite = 1.0f;
}

}  // namespace

void launch_fill(Context& ctx, float* x, float value, int64_t n) {
  if (n <= 0) return;
  const bool vec = aligned16(x);
  launch(fill_kernel, flat_blocks(ctx, vec ? (n + 3) / 4 : n), kThreads, 0, ctx.stream, x, value, n, vec);
  GNAS_CUDA_LAUNCHED("fill_kernel");
}

void launch_add_inplace(Context& ctx, float* y, const float* x, int64_t n) {
  if (n <= 0) return;
  const bool vec = aligned16(y) && aligned16(x);
  launch(add_kernel, flat_blocks(ctx, vec ? (n + 3) / 4 : n), kThreads, 0, ctx.stream, y, x, n, vec);
  GNAS_CUDA_LAUNCHED("add_kernel");
}

void launch_sgd_update(Context& ctx, float* w, float* velocity, const float* g, int64_t n, float lr, float momentum,
                       float weight_decay, bool nesterov, float* nonfinite) {
  if (n <= 0) return;
  const bool vec = aligned16(w) && aligned16(velocity) && aligned16(g);
  launch(sgd_kernel, flat_blocks(ctx, vec ? (n + 3) / 4 : n), kThreads, 0, ctx.stream, w, velocity, g, n, double(lr),
      double(momentum), double(weight_decay), nesterov, vec, nonfinite);
  GNAS_CUDA_LAUNCHED("sgd_kernel");
}

}  // namespace cuda
}  // namespace gnas
