// Batch norm + activation on x[M][C] (NHWC rows, channels contiguous), train forward, eval
// forward, apply and backward, and the update of the running statistics.
//
// Reductions over the M rows (batch statistics; dgamma / dbeta) are two-stage and deterministic:
//   1. a (channel tiles x row chunks) grid; each block's threads accumulate their rows in double,
//      then the block sums its row lanes per channel in a fixed order into partial[chunk][2][C];
//   2. a finalize kernel sums the chunks per channel in a fixed order (also in double).
// The batch statistics use a per-channel shift (the channel's value in row 0): sums of d = x - shift
// and d^2 in double, var = E[d^2] - E[d]^2 clamped at 0. In double this matches the reference's
// exact two-pass formula to ~1e-12 relative even for a nearly constant channel.
// The elementwise passes (apply, dx) use float4 when C % 4 == 0 and every pointer is 16-byte
// aligned, and a scalar path otherwise; the channel index is tracked incrementally (no division in
// the grid-stride loop).
#include "backends/cuda/kernel_helpers.cuh"
#include "backends/cuda/launchers.h"

namespace gnas {
namespace cuda {
namespace {

constexpr int kRowLanes = 8;  // blockDim.y of the reduction kernels (blockDim.x = 32)

// Layout of a reduction block over rows: a warp covers cw = min(C, 32) channels and g = 32 / cw
// rows (so C < 32 does not leave most lanes idle); R = 8 g rows are in flight per block.
struct RowPlan {
  int cw = 32, g = 1, R = kRowLanes, tiles = 1, chunks = 1;
  int64_t rows_per_chunk = 1;
};

RowPlan plan_rows(const Context& ctx, int64_t M, int C) {
  RowPlan p;
  p.cw = C < 32 ? C : 32;
  p.g = 32 / p.cw;
  p.R = kRowLanes * p.g;
  p.tiles = ceil_div(C, p.cw);
  const int64_t target = int64_t(ctx.sm_count > 0 ? ctx.sm_count : 1) * 8;  // blocks to fill the device
  int64_t chunks = (target + p.tiles - 1) / p.tiles;
  // at least 4 rows per row lane in a chunk, at most 4096 chunks (grid.y and the finalize loop)
  int64_t max_chunks = (M + 4 * p.R - 1) / (4 * p.R);
  if (max_chunks > 4096) max_chunks = 4096;
  if (chunks > max_chunks) chunks = max_chunks;
  if (chunks < 1) chunks = 1;
  p.rows_per_chunk = (M + chunks - 1) / chunks;
  p.chunks = int((M + p.rows_per_chunk - 1) / p.rows_per_chunk);
  return p;
}

// The per-element terms of the backward, shared by the reduction and the dx pass so both see
// exactly the same dz: xhat = (x - mean) invstd, z = gamma xhat + beta, dz = dy act'(z).
template <Act A>
__device__ __forceinline__ void bwd_terms(float x, float dy, float mu, float is, float g, float b, float& xh,
                                          float& dz) {
  xh = (x - mu) * is;
  const float z = g * xh + b;
  dz = dy * act_grad<A>(z);
}

// Sums this block's row-lane partials per channel in a fixed order and writes
// part[(chunk * 2 + 0) * C + c] = s1, part[(chunk * 2 + 1) * C + c] = s2.
__device__ __forceinline__ void block_reduce_store(double s1, double s2, double* __restrict__ part, int chunk, int C,
                                                   int cw, int g, int c) {
  __shared__ double r1[kRowLanes][32], r2[kRowLanes][32];
  const int lane = threadIdx.x, ty = threadIdx.y;
  r1[ty][lane] = s1;
  r2[ty][lane] = s2;
  __syncthreads();
  const int sub = lane / cw, cl = lane - sub * cw;
  if (ty == 0 && sub == 0 && c < C) {
    double t1 = 0, t2 = 0;
    for (int y = 0; y < kRowLanes; ++y)
      for (int sb = 0; sb < g; ++sb) {
        t1 += r1[y][sb * cw + cl];
        t2 += r2[y][sb * cw + cl];
      }
    part[(int64_t(chunk) * 2 + 0) * C + c] = t1;
    part[(int64_t(chunk) * 2 + 1) * C + c] = t2;
  }
}

// Stage 1 of the batch statistics: s1 = sum (x - shift), s2 = sum (x - shift)^2 over the chunk's
// rows, shift = x[0][c].
__global__ void __launch_bounds__(32 * kRowLanes)
    stats_partial_kernel(double* __restrict__ part, const float* __restrict__ x, int64_t M, int C, int cw, int g,
                         int64_t rows_per_chunk) {
  const int lane = threadIdx.x;
  const int sub = lane / cw, cl = lane - sub * cw;
  const int c = blockIdx.x * cw + cl;
  const bool active = sub < g && c < C;
  const int R = kRowLanes * g, r = threadIdx.y * g + sub;
  const int64_t m0 = int64_t(blockIdx.y) * rows_per_chunk;
  const int64_t m1 = m0 + rows_per_chunk < M ? m0 + rows_per_chunk : M;
  double s1 = 0, s2 = 0;
  if (active) {
    const double shift = double(x[c]);
    const float* xc = x + c;
    int64_t m = m0 + r;
    // four independent loads in flight per iteration
    for (; m + 3 * int64_t(R) < m1; m += 4 * int64_t(R)) {
      const float a0 = xc[m * C], a1 = xc[(m + R) * C], a2 = xc[(m + 2 * R) * C], a3 = xc[(m + 3 * R) * C];
      const double d0 = double(a0) - shift, d1 = double(a1) - shift, d2 = double(a2) - shift,
                   d3 = double(a3) - shift;
      s1 += (d0 + d1) + (d2 + d3);
      s2 += (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3);
    }
    for (; m < m1; m += R) {
      const double d = double(xc[m * C]) - shift;
      s1 += d;
      s2 += d * d;
    }
  }
  block_reduce_store(s1, s2, part, blockIdx.y, C, cw, g, c);
}

// Stage 1 of the backward: s1 = sum dz, s2 = sum dz * xhat.
template <Act A>
__global__ void __launch_bounds__(32 * kRowLanes)
    bwd_partial_kernel(double* __restrict__ part, const float* __restrict__ dy, const float* __restrict__ x,
                       const float* __restrict__ mean, const float* __restrict__ invstd,
                       const float* __restrict__ gamma, const float* __restrict__ beta, int64_t M, int C, int cw,
                       int g, int64_t rows_per_chunk) {
  const int lane = threadIdx.x;
  const int sub = lane / cw, cl = lane - sub * cw;
  const int c = blockIdx.x * cw + cl;
  const bool active = sub < g && c < C;
  const int R = kRowLanes * g, r = threadIdx.y * g + sub;
  const int64_t m0 = int64_t(blockIdx.y) * rows_per_chunk;
  const int64_t m1 = m0 + rows_per_chunk < M ? m0 + rows_per_chunk : M;
  double s1 = 0, s2 = 0;
  if (active) {
    const float mu = mean[c], is = invstd[c], ga = gamma[c], be = beta[c];
    const float* xc = x + c;
    const float* dyc = dy + c;
    int64_t m = m0 + r;
    for (; m + int64_t(R) < m1; m += 2 * int64_t(R)) {
      const float xa = xc[m * C], xb = xc[(m + R) * C], dya = dyc[m * C], dyb = dyc[(m + R) * C];
      float xha, dza, xhb, dzb;
      bwd_terms<A>(xa, dya, mu, is, ga, be, xha, dza);
      bwd_terms<A>(xb, dyb, mu, is, ga, be, xhb, dzb);
      s1 += double(dza) + double(dzb);
      s2 += double(dza) * double(xha) + double(dzb) * double(xhb);
    }
    for (; m < m1; m += R) {
      float xh, dz;
      bwd_terms<A>(xc[m * C], dyc[m * C], mu, is, ga, be, xh, dz);
      s1 += double(dz);
      s2 += double(dz) * double(xh);
    }
  }
  block_reduce_store(s1, s2, part, blockIdx.y, C, cw, g, c);
}

// Stage 2: per channel, the chunks in a fixed order. Block (32, 8): 32 channels, 8 chunk lanes.
//   STATS: mean = shift + S1 / M, invstd = 1 / sqrt(max(S2 / M - (S1 / M)^2, 0) + eps).
//   !STATS: dbeta = S1, dgamma = S2, coef[c] = S1 / M, coef[C + c] = S2 / M (for the dx pass).
template <bool STATS>
__global__ void __launch_bounds__(32 * kRowLanes)
    finalize_kernel(float* __restrict__ out0, float* __restrict__ out1, float* __restrict__ coef,
                    const double* __restrict__ part, const float* __restrict__ x, int chunks, int64_t M, int C,
                    double eps) {
  __shared__ double r1[kRowLanes][32], r2[kRowLanes][32];
  const int c = blockIdx.x * 32 + threadIdx.x;
  const int ty = threadIdx.y;
  double s1 = 0, s2 = 0;
  if (c < C)
    for (int k = ty; k < chunks; k += kRowLanes) {
      s1 += part[(int64_t(k) * 2 + 0) * C + c];
      s2 += part[(int64_t(k) * 2 + 1) * C + c];
    }
  r1[ty][threadIdx.x] = s1;
  r2[ty][threadIdx.x] = s2;
  __syncthreads();
  if (ty != 0 || c >= C) return;
  double t1 = 0, t2 = 0;
  for (int y = 0; y < kRowLanes; ++y) {
    t1 += r1[y][threadIdx.x];
    t2 += r2[y][threadIdx.x];
  }
  const double inv_m = 1.0 / double(M);
  if (STATS) {
    const double md = t1 * inv_m;
    double var = t2 * inv_m - md * md;
    if (var < 0) var = 0;
    out0[c] = float(double(x[c]) + md);        // mean
    out1[c] = float(1.0 / sqrt(var + eps));    // invstd
  } else {
    out0[c] = float(t2);  // dgamma = sum dz * xhat
    out1[c] = float(t1);  // dbeta = sum dz
    coef[c] = float(t1 * inv_m);
    coef[C + c] = float(t2 * inv_m);
  }
}

// ---- elementwise passes ----
__device__ __forceinline__ float4 ld4(const float* p) { return *reinterpret_cast<const float4*>(p); }
__device__ __forceinline__ float comp(const float4& v, int k) { return k == 0 ? v.x : k == 1 ? v.y : k == 2 ? v.z : v.w; }

// y = act(gamma ((x - mean) invstd) + beta); VEC: V = 4 channels per item, else 1. nv items, CV per row.
template <Act A, bool VEC>
__global__ void apply_kernel(float* y, const float* x, const float* __restrict__ mean,
                             const float* __restrict__ invstd, const float* __restrict__ gamma,
                             const float* __restrict__ beta, int64_t nv, int CV) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  int cv = int(i % CV);
  const int step = int(stride % CV);
  for (; i < nv; i += stride) {
    if (VEC) {
      const int c0 = cv * 4;
      const float4 xv = ld4(x + i * 4), mu = ld4(mean + c0), is = ld4(invstd + c0), ga = ld4(gamma + c0),
                   be = ld4(beta + c0);
      float4 o;
      o.x = act_fwd<A>(ga.x * ((xv.x - mu.x) * is.x) + be.x);
      o.y = act_fwd<A>(ga.y * ((xv.y - mu.y) * is.y) + be.y);
      o.z = act_fwd<A>(ga.z * ((xv.z - mu.z) * is.z) + be.z);
      o.w = act_fwd<A>(ga.w * ((xv.w - mu.w) * is.w) + be.w);
      *reinterpret_cast<float4*>(y + i * 4) = o;
    } else {
      y[i] = act_fwd<A>(gamma[cv] * ((x[i] - mean[cv]) * invstd[cv]) + beta[cv]);
    }
    cv += step;
    if (cv >= CV) cv -= CV;
  }
}

// dx = gamma invstd (dz - mean(dz) - xhat mean(dz xhat)); coef[c] = mean(dz), coef[C + c] = mean(dz xhat).
template <Act A, bool VEC>
__global__ void bwd_dx_kernel(float* dx, const float* dy, const float* x, const float* __restrict__ mean,
                              const float* __restrict__ invstd, const float* __restrict__ gamma,
                              const float* __restrict__ beta, const float* __restrict__ coef, int64_t nv, int CV,
                              int C) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  int cv = int(i % CV);
  const int step = int(stride % CV);
  for (; i < nv; i += stride) {
    if (VEC) {
      const int c0 = cv * 4;
      const float4 xv = ld4(x + i * 4), gv = ld4(dy + i * 4), mu = ld4(mean + c0), is = ld4(invstd + c0),
                   ga = ld4(gamma + c0), be = ld4(beta + c0), m1 = ld4(coef + c0), m2 = ld4(coef + C + c0);
      float r[4];
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        float xh, dz;
        bwd_terms<A>(comp(xv, k), comp(gv, k), comp(mu, k), comp(is, k), comp(ga, k), comp(be, k), xh, dz);
        r[k] = (comp(ga, k) * comp(is, k)) * (dz - comp(m1, k) - xh * comp(m2, k));
      }
      *reinterpret_cast<float4*>(dx + i * 4) = make_float4(r[0], r[1], r[2], r[3]);
    } else {
      float xh, dz;
      bwd_terms<A>(x[i], dy[i], mean[cv], invstd[cv], gamma[cv], beta[cv], xh, dz);
      dx[i] = (gamma[cv] * invstd[cv]) * (dz - coef[cv] - xh * coef[C + cv]);
    }
    cv += step;
    if (cv >= CV) cv -= CV;
  }
}

// Eval mode: invstd from the running variance, in double as the reference.
__global__ void eval_invstd_kernel(float* __restrict__ invstd, const float* __restrict__ running_var, double eps,
                                   int C) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c < C) invstd[c] = float(1.0 / sqrt(double(running_var[c]) + eps));
}

void launch_apply(Context& ctx, float* y, const float* x, const float* mean, const float* invstd, const float* gamma,
                  const float* beta, Act act, int64_t M, int C) {
  const bool vec = C % 4 == 0 && aligned16(y) && aligned16(x) && aligned16(mean) && aligned16(invstd) &&
                   aligned16(gamma) && aligned16(beta);
  const int CV = vec ? C / 4 : C;
  const int64_t nv = M * CV;
  const int blocks = flat_blocks(ctx, nv);
  GNAS_ACT_DISPATCH(act, {
    if (vec)
      launch(apply_kernel<kA, true>, blocks, kThreads, 0, ctx.stream, y, x, mean, invstd, gamma, beta, nv, CV);
    else
      launch(apply_kernel<kA, false>, blocks, kThreads, 0, ctx.stream, y, x, mean, invstd, gamma, beta, nv, CV);
  })
  GNAS_CUDA_LAUNCHED("bn apply_kernel");
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

void launch_bn_stats(Context& ctx, float* mean, float* invstd, const float* x, float eps, int64_t M, int C) {
  if (M <= 0 || C <= 0) return;
  const RowPlan p = plan_rows(ctx, M, C);
  ScratchBuffer part(ctx, int64_t(p.chunks) * 2 * C * 2);  // doubles
  launch(stats_partial_kernel, dim3(unsigned(p.tiles), unsigned(p.chunks)), dim3(32, kRowLanes), 0, ctx.stream,
      part.as_double(), x, M, C, p.cw, p.g, p.rows_per_chunk);
  GNAS_CUDA_LAUNCHED("bn stats_partial_kernel");
  launch(finalize_kernel<true>, ceil_div(C, 32), dim3(32, kRowLanes), 0, ctx.stream, mean, invstd, nullptr,
      part.as_double(), x, p.chunks, M, C, double(eps));
  GNAS_CUDA_LAUNCHED("bn finalize_kernel<stats>");
}

void launch_bn_act_forward_train(Context& ctx, float* y, float* mean, float* invstd, const float* x,
                                 const float* gamma, const float* beta, float eps, Act act, int64_t M, int C) {
  if (M <= 0 || C <= 0) return;
  launch_bn_stats(ctx, mean, invstd, x, eps, M, C);
  launch_apply(ctx, y, x, mean, invstd, gamma, beta, act, M, C);
}

void launch_bn_act_forward_eval(Context& ctx, float* y, const float* x, const float* gamma, const float* beta,
                                const float* running_mean, const float* running_var, float eps, Act act, int64_t M,
                                int C) {
  if (M <= 0 || C <= 0) return;
  ScratchBuffer is(ctx, C);
  launch(eval_invstd_kernel, ceil_div(C, kThreads), kThreads, 0, ctx.stream, is.data(), running_var, double(eps), C);
  GNAS_CUDA_LAUNCHED("bn eval_invstd_kernel");
  launch_apply(ctx, y, x, running_mean, is.data(), gamma, beta, act, M, C);
}

void launch_bn_act_apply(Context& ctx, float* y, const float* x, const float* mean, const float* invstd,
                         const float* gamma, const float* beta, Act act, int64_t M, int C) {
  if (M <= 0 || C <= 0) return;
  launch_apply(ctx, y, x, mean, invstd, gamma, beta, act, M, C);
}

void launch_bn_act_backward(Context& ctx, float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                            const float* mean, const float* invstd, const float* gamma, const float* beta, Act act,
                            int64_t M, int C) {
  if (M <= 0 || C <= 0) return;
  const RowPlan p = plan_rows(ctx, M, C);
  ScratchBuffer part(ctx, int64_t(p.chunks) * 2 * C * 2);  // doubles
  ScratchBuffer coef(ctx, 2 * int64_t(C));
  const dim3 grid(unsigned(p.tiles), unsigned(p.chunks)), block(32, kRowLanes);
  GNAS_ACT_DISPATCH(act, {
    launch(bwd_partial_kernel<kA>, grid, block, 0, ctx.stream, part.as_double(), dy, x, mean, invstd, gamma, beta, M, C,
        p.cw, p.g, p.rows_per_chunk);
  })
  GNAS_CUDA_LAUNCHED("bn bwd_partial_kernel");
  launch(finalize_kernel<false>, ceil_div(C, 32), block, 0, ctx.stream, dgamma, dbeta, coef.data(), part.as_double(),
      nullptr, p.chunks, M, C, 0.0);
  GNAS_CUDA_LAUNCHED("bn finalize_kernel<bwd>");
  if (!dx) return;
  const bool vec = C % 4 == 0 && aligned16(dx) && aligned16(dy) && aligned16(x) && aligned16(mean) &&
                   aligned16(invstd) && aligned16(gamma) && aligned16(beta) && aligned16(coef.data()) &&
                   aligned16(coef.data() + C);
  const int CV = vec ? C / 4 : C;
  const int64_t nv = M * CV;
  const int blocks = flat_blocks(ctx, nv);
  GNAS_ACT_DISPATCH(act, {
    if (vec)
      launch(bwd_dx_kernel<kA, true>, blocks, kThreads, 0, ctx.stream, dx, dy, x, mean, invstd, gamma, beta,
          coef.data(), nv, CV, C);
    else
      launch(bwd_dx_kernel<kA, false>, blocks, kThreads, 0, ctx.stream, dx, dy, x, mean, invstd, gamma, beta,
          coef.data(), nv, CV, C);
  })
  GNAS_CUDA_LAUNCHED("bn bwd_dx_kernel");
}

void launch_bn_update_running(Context& ctx, float* running_mean, float* running_var, const float* mean,
                              const float* invstd, float eps, float momentum, int64_t M, int C, float* nonfinite) {
  if (C <= 0) return;
  const double unbias = M > 1 ? double(M) / double(M - 1) : 1.0;
  launch(bn_update_running_kernel, ceil_div(C, kThreads), kThreads, 0, ctx.stream, running_mean, running_var, mean,
      invstd, double(eps), double(momentum), unbias, C, nonfinite);
  GNAS_CUDA_LAUNCHED("bn_update_running_kernel");
}

}  // namespace cuda
}  // namespace gnas
