// Elementwise and small reduction kernels of the CUDA backend: fill, input normalisation, residual
// add, SGD, global average pooling (and the per-image column sums it shares with SE), and the BN
// running-statistics update. All flat kernels are grid-stride loops with 64-bit indices; the
// float4 paths run only on 16-byte aligned pointers and cover the first floor(n / 4) * 4 elements,
// the tail (< 4 elements) is done by scalar code, so nothing is read or written past n.
#include "backends/cuda/kernels.h"

namespace gnas {
namespace cuda {
namespace {

// Grid-stride position of this thread.
__device__ __forceinline__ int64_t gtid() { return int64_t(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ __forceinline__ int64_t gstride() { return int64_t(gridDim.x) * blockDim.x; }

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

// inf and NaN fail the comparison; plain float ops, so the CPU emulator compiles it unchanged.
__device__ __forceinline__ bool finite_value(float x) { return fabsf(x) <= 3.402823466e+38f; }

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

// ---- input normalisation over x[M][C] (C is tiny: 1 or 3): channel tracked incrementally ----
template <typename S>
__device__ __forceinline__ double norm_src(S v);
template <>
__device__ __forceinline__ double norm_src<uint8_t>(uint8_t v) { return double(v) / 255.0; }
template <>
__device__ __forceinline__ double norm_src<float>(float v) { return double(v); }

template <typename S>
__global__ void normalize_kernel(float* __restrict__ x, const S* __restrict__ src, const float* __restrict__ mean,
                                 const float* __restrict__ stdv, int64_t n, int C) {
  int64_t i = gtid();
  const int64_t stride = gstride();
  int c = int(i % C);
  const int cstep = int(stride % C);
  for (; i < n; i += stride) {
    x[i] = float((norm_src<S>(src[i]) - double(mean[c])) / double(stdv[c]));
    c += cstep;
    if (c >= C) c -= C;
  }
}

// ---- per-image column sums (GAP, SE): block (32, 8) = 32 lanes x 8 row lanes ----
// A warp covers cw = min(C, 32) channels; with C < 32 it also covers g = 32 / cw rows at once, so
// small C does not leave most lanes idle. Row lane r = ty * g + sub walks rows r, r + R, ... with
// R = 8 g; the block then sums its R partial sums per channel in a fixed order (deterministic).
constexpr int kRowLanes = 8;

template <bool PROD>
__global__ void __launch_bounds__(32 * kRowLanes) image_colsum_kernel(float* __restrict__ out_mean,
                                                                      double* __restrict__ out_sum,
                                                                      const float* __restrict__ a,
                                                                      const float* __restrict__ b,
                                                                      const float* __restrict__ gate, int N, int HW,
                                                                      int C, int cw, int g) {
  __shared__ double red[kRowLanes][32];
  const int lane = threadIdx.x, ty = threadIdx.y;
  const int sub = lane / cw, cl = lane - sub * cw;
  const int c = blockIdx.x * cw + cl;
  const bool active = sub < g && c < C;
  const int R = kRowLanes * g, r = ty * g + sub;
  for (int n = blockIdx.y; n < N; n += gridDim.y) {
    double s = 0;
    if (active) {
      const int64_t base = int64_t(n) * HW * C + c;
      const float* an = a + base;
      const float* bn = PROD ? b + base : nullptr;
      for (int i = r; i < HW; i += R) {
        const int64_t off = int64_t(i) * C;
        if (PROD)
          s += double(an[off]) * double(bn[off]);
        else
          s += double(an[off]);
      }
    }
    red[ty][lane] = s;
    __syncthreads();
    if (ty == 0 && sub == 0 && c < C) {
      double t = 0;
      for (int y = 0; y < kRowLanes; ++y)
        for (int sb = 0; sb < g; ++sb) t += red[y][sb * cw + cl];
      const int64_t o = int64_t(n) * C + c;
      if (out_mean) out_mean[o] = float(t / double(HW));
      if (out_sum) {
        if (gate) {
          const double gt = double(gate[o]);
          out_sum[o] = t * gt * (1.0 - gt);
        } else {
          out_sum[o] = t;
        }
      }
    }
    __syncthreads();
  }
}

// ---- GAP backward: dx[n][i][c] = dy[n][c] / HW ----
__global__ void gap_backward_kernel(float* __restrict__ dx, const float* __restrict__ dy, int N, int HW, int C) {
  const int64_t per = int64_t(HW) * C;
  const double den = double(HW);
  for (int n = blockIdx.y; n < N; n += gridDim.y) {
    int64_t j = gtid();
    const int64_t stride = gstride();
    int c = int(j % C);
    const int cstep = int(stride % C);
    float* dxn = dx + int64_t(n) * per;
    const float* dyn = dy + int64_t(n) * C;
    for (; j < per; j += stride) {
      dxn[j] = float(double(dyn[c]) / den);
      c += cstep;
      if (c >= C) c -= C;
    }
  }
}

// ---- BN running statistics (one thread per channel, double) ----
__global__ void bn_update_running_kernel(float* __restrict__ rm, float* __restrict__ rv, const float* __restrict__ mean,
                                         const float* __restrict__ invstd, double eps, double m, double unbias, int C,
                                         float* nonfinite) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  const double is = double(invstd[c]);
  double var = 1.0 / (is * is) - eps;
  if (var < 0) var = 0;  // as the reference (core/backend_defaults.cpp)
  rm[c] = float((1.0 - m) * double(rm[c]) + m * double(mean[c]));
  rv[c] = float((1.0 - m) * double(rv[c]) + m * var * unbias);
  if (nonfinite && !(finite_value(rm[c]) && finite_value(rv[c]))) *nonfinite = 1.0f;  // same value from every writer
}

}  // namespace

void launch_fill(Context& ctx, float* x, float value, int64_t n) {
  if (n <= 0) return;
  const bool vec = aligned16(x);
  fill_kernel<<<flat_blocks(ctx, vec ? (n + 3) / 4 : n), kThreads, 0, ctx.stream>>>(x, value, n, vec);
  GNAS_CUDA_LAUNCHED("fill_kernel");
}

void launch_add_inplace(Context& ctx, float* y, const float* x, int64_t n) {
  if (n <= 0) return;
  const bool vec = aligned16(y) && aligned16(x);
  add_kernel<<<flat_blocks(ctx, vec ? (n + 3) / 4 : n), kThreads, 0, ctx.stream>>>(y, x, n, vec);
  GNAS_CUDA_LAUNCHED("add_kernel");
}

void launch_sgd_update(Context& ctx, float* w, float* velocity, const float* g, int64_t n, float lr, float momentum,
                       float weight_decay, bool nesterov, float* nonfinite) {
  if (n <= 0) return;
  const bool vec = aligned16(w) && aligned16(velocity) && aligned16(g);
  sgd_kernel<<<flat_blocks(ctx, vec ? (n + 3) / 4 : n), kThreads, 0, ctx.stream>>>(
      w, velocity, g, n, double(lr), double(momentum), double(weight_decay), nesterov, vec, nonfinite);
  GNAS_CUDA_LAUNCHED("sgd_kernel");
}

void launch_normalize_u8(Context& ctx, float* x, const uint8_t* src, const float* mean, const float* std, int64_t M,
                         int C) {
  if (M <= 0 || C <= 0) return;
  const int64_t n = M * C;
  normalize_kernel<uint8_t><<<flat_blocks(ctx, n), kThreads, 0, ctx.stream>>>(x, src, mean, std, n, C);
  GNAS_CUDA_LAUNCHED("normalize_kernel<u8>");
}

void launch_normalize_f32(Context& ctx, float* x, const float* src, const float* mean, const float* std, int64_t M,
                          int C) {
  if (M <= 0 || C <= 0) return;
  const int64_t n = M * C;
  normalize_kernel<float><<<flat_blocks(ctx, n), kThreads, 0, ctx.stream>>>(x, src, mean, std, n, C);
  GNAS_CUDA_LAUNCHED("normalize_kernel<f32>");
}

void launch_image_colsum(Context& ctx, float* out_mean, double* out_sum, const float* a, const float* b,
                         const float* gate, int N, int HW, int C) {
  if (N <= 0 || C <= 0) return;
  if (HW <= 0) {
    // empty images: sums are 0 (and the mean 0/0 is left to the caller; never happens in the net)
    return;
  }
  const int cw = C < 32 ? C : 32;
  const int g = 32 / cw;
  const dim3 block(32, kRowLanes);
  const dim3 grid(unsigned(ceil_div(C, cw)), unsigned(N < 65535 ? N : 65535));
  if (b)
    image_colsum_kernel<true><<<grid, block, 0, ctx.stream>>>(out_mean, out_sum, a, b, gate, N, HW, C, cw, g);
  else
    image_colsum_kernel<false><<<grid, block, 0, ctx.stream>>>(out_mean, out_sum, a, b, gate, N, HW, C, cw, g);
  GNAS_CUDA_LAUNCHED("image_colsum_kernel");
}

void launch_gap_forward(Context& ctx, float* y, const float* x, int N, int HW, int C) {
  launch_image_colsum(ctx, y, nullptr, x, nullptr, nullptr, N, HW, C);
}

void launch_gap_backward(Context& ctx, float* dx, const float* dy, int N, int HW, int C) {
  if (N <= 0 || HW <= 0 || C <= 0) return;
  const int64_t per = int64_t(HW) * C;
  // spread the blocks of the device over the images; each image gets at least one block
  int bx = flat_blocks(ctx, per);
  const int by = N < 65535 ? N : 65535;
  const int64_t cap = int64_t(ctx.sm_count > 0 ? ctx.sm_count : 1) * 16;
  if (int64_t(bx) * by > cap) bx = int(cap / by > 1 ? cap / by : 1);
  gap_backward_kernel<<<dim3(unsigned(bx), unsigned(by)), kThreads, 0, ctx.stream>>>(dx, dy, N, HW, C);
  GNAS_CUDA_LAUNCHED("gap_backward_kernel");
}

void launch_bn_update_running(Context& ctx, float* running_mean, float* running_var, const float* mean,
                              const float* invstd, float eps, float momentum, int64_t M, int C, float* nonfinite) {
  if (C <= 0) return;
  const double unbias = M > 1 ? double(M) / double(M - 1) : 1.0;
  bn_update_running_kernel<<<ceil_div(C, kThreads), kThreads, 0, ctx.stream>>>(
      running_mean, running_var, mean, invstd, double(eps), double(momentum), unbias, C, nonfinite);
  GNAS_CUDA_LAUNCHED("bn_update_running_kernel");
}

}  // namespace cuda
}  // namespace gnas
