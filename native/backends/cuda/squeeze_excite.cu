// Squeeze-excite, forward and backward.
//
// SE works per image on small vectors (N <= 256, C <= ~1200, R <= ~300), so its kernels are simple:
// the pooling sums are the shared per-image column sums (launch_image_colsum, elementwise.cu), the
// two tiny FC layers are one warp per output (lanes over the reduction axis, a fixed shuffle tree)
// or one thread per output (a sequential loop), and the weight gradients are sums over the batch
// with one thread per weight looping over n in order. Every sum is in double and in a fixed order,
// so the results are deterministic. The two passes over the big tensor (y = x * gate, and
// dx = dy * gate + dpool) are flat per-image kernels, float4 when possible.
#include <cmath>

#include "backends/cuda/kernel_helpers.cuh"
#include "backends/cuda/launchers.h"

namespace gnas {
namespace cuda {
namespace {

// hidden[n][r] = relu(b1[r] + sum_c w1[r][c] pooled[n][c]); one warp per (n, r).
__global__ void se_fc1_kernel(float* __restrict__ hidden, const float* __restrict__ pooled, const float* __restrict__ w1,
                              const float* __restrict__ b1, int N, int C, int R) {
  const int64_t item = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  if (item >= int64_t(N) * R) return;  // whole warp leaves together
  const int n = int(item / R), r = int(item - int64_t(n) * R);
  const float* wr = w1 + int64_t(r) * C;
  const float* pn = pooled + int64_t(n) * C;
  double acc = 0;
  for (int c = lane; c < C; c += 32) acc += double(wr[c]) * double(pn[c]);
  acc = warp_sum_lane0(acc);
  if (lane == 0) {
    const double h = double(b1[r]) + acc;
    hidden[item] = float(h > 0 ? h : 0.0);
  }
}

// gate[n][c] = sigmoid(b2[c] + sum_r w2[c][r] hidden[n][r]); one warp per (n, c).
__global__ void se_fc2_kernel(float* __restrict__ gate, const float* __restrict__ hidden, const float* __restrict__ w2,
                              const float* __restrict__ b2, int N, int C, int R) {
  const int64_t item = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  if (item >= int64_t(N) * C) return;
  const int n = int(item / C), c = int(item - int64_t(n) * C);
  const float* wc = w2 + int64_t(c) * R;
  const float* hn = hidden + int64_t(n) * R;
  double acc = 0;
  for (int r = lane; r < R; r += 32) acc += double(wc[r]) * double(hn[r]);
  acc = warp_sum_lane0(acc);
  if (lane == 0) {
    const double a = double(b2[c]) + acc;
    gate[item] = float(1.0 / (1.0 + exp(-a)));
  }
}

// out[n][i][c] = a[n][i][c] * gate[n][c] (+ add[n][c] when ADD); per image (grid.y), flat over HW*CV
// items with the channel group tracked incrementally. VEC: 4 channels per item.
template <bool VEC, bool ADD>
__global__ void se_scale_kernel(float* out, const float* a, const float* __restrict__ gate,
                                const float* __restrict__ add, int N, int HW, int C, int CV) {
  const int64_t per = int64_t(HW) * CV;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int n = blockIdx.y; n < N; n += gridDim.y) {
    int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    int cv = int(j % CV);
    const int step = int(stride % CV);
    const int64_t img = int64_t(n) * HW * C;
    const float* gn = gate + int64_t(n) * C;
    const float* an_add = ADD ? add + int64_t(n) * C : nullptr;
    for (; j < per; j += stride) {
      if (VEC) {
        const int c0 = cv * 4;
        const float4 av = *reinterpret_cast<const float4*>(a + img + j * 4);
        const float4 gv = *reinterpret_cast<const float4*>(gn + c0);
        float4 o;
        if (ADD) {
          const float4 dv = *reinterpret_cast<const float4*>(an_add + c0);
          o = make_float4(fmaf(av.x, gv.x, dv.x), fmaf(av.y, gv.y, dv.y), fmaf(av.z, gv.z, dv.z),
                          fmaf(av.w, gv.w, dv.w));
        } else {
          o = make_float4(av.x * gv.x, av.y * gv.y, av.z * gv.z, av.w * gv.w);
        }
        *reinterpret_cast<float4*>(out + img + j * 4) = o;
      } else {
        out[img + j] = ADD ? fmaf(a[img + j], gn[cv], an_add[cv]) : a[img + j] * gn[cv];
      }
      cv += step;
      if (cv >= CV) cv -= CV;
    }
  }
}

// dpre[n][r] = hidden[n][r] > 0 ? sum_c dlogit[n][c] w2[c][r] : 0; one thread per (n, r).
__global__ void se_dpre_kernel(double* __restrict__ dpre, const double* __restrict__ dlogit,
                               const float* __restrict__ hidden, const float* __restrict__ w2, int N, int C, int R) {
  const int64_t item = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (item >= int64_t(N) * R) return;
  const int n = int(item / R), r = int(item - int64_t(n) * R);
  const double* dn = dlogit + int64_t(n) * C;
  double acc = 0;
  for (int c = 0; c < C; ++c) acc += dn[c] * double(w2[int64_t(c) * R + r]);
  dpre[item] = double(hidden[item]) > 0 ? acc : 0.0;
}

// dpool[n][c] = (sum_r dpre[n][r] w1[r][c]) / HW; one thread per (n, c).
__global__ void se_dpool_kernel(float* __restrict__ dpool, const double* __restrict__ dpre,
                                const float* __restrict__ w1, int N, int C, int R, int HW) {
  const int64_t item = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (item >= int64_t(N) * C) return;
  const int n = int(item / C), c = int(item - int64_t(n) * C);
  const double* dn = dpre + int64_t(n) * R;
  double acc = 0;
  for (int r = 0; r < R; ++r) acc += dn[r] * double(w1[int64_t(r) * C + c]);
  dpool[item] = float(acc / double(HW));
}

// Batch sums of outer products: out[a][b] = sum_n A[n][a] B[n][b] and bias[a] = sum_n A[n][a];
// one thread per (a, b) with b in [0, NB] (b == NB is the bias), n in order.
__global__ void outer_sum_kernel(float* __restrict__ out, float* __restrict__ bias, const double* __restrict__ A,
                                 const float* __restrict__ B, int N, int NA, int NB) {
  const int64_t item = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t cols = int64_t(NB) + 1;
  if (item >= int64_t(NA) * cols) return;
  const int a = int(item / cols), b = int(item - int64_t(a) * cols);
  double acc = 0;
  if (b == NB) {
    for (int n = 0; n < N; ++n) acc += A[int64_t(n) * NA + a];
    bias[a] = float(acc);
  } else {
    for (int n = 0; n < N; ++n) acc += A[int64_t(n) * NA + a] * double(B[int64_t(n) * NB + b]);
    out[int64_t(a) * NB + b] = float(acc);
  }
}

unsigned thread_blocks(int64_t items) { return unsigned((items + kThreads - 1) / kThreads); }

void launch_scale(Context& ctx, float* out, const float* a, const float* gate, const float* add, int N, int HW,
                  int C) {
  const bool vec = C % 4 == 0 && aligned16(out) && aligned16(a) && aligned16(gate) && (!add || aligned16(add));
  const int CV = vec ? C / 4 : C;
  const int64_t per = int64_t(HW) * CV;
  const int by = N < 65535 ? N : 65535;
  int bx = flat_blocks(ctx, per);
  const int64_t cap = int64_t(ctx.sm_count > 0 ? ctx.sm_count : 1) * 16;
  if (int64_t(bx) * by > cap) bx = int(cap / by > 1 ? cap / by : 1);
  const dim3 grid(static_cast<unsigned>(bx), static_cast<unsigned>(by));
  if (vec) {
    if (add) launch(se_scale_kernel<true, true>, grid, kThreads, 0, ctx.stream, out, a, gate, add, N, HW, C, CV);
    else launch(se_scale_kernel<true, false>, grid, kThreads, 0, ctx.stream, out, a, gate, add, N, HW, C, CV);
  } else {
    if (add) launch(se_scale_kernel<false, true>, grid, kThreads, 0, ctx.stream, out, a, gate, add, N, HW, C, CV);
    else launch(se_scale_kernel<false, false>, grid, kThreads, 0, ctx.stream, out, a, gate, add, N, HW, C, CV);
  }
  GNAS_CUDA_LAUNCHED("se_scale_kernel");
}

}  // namespace

void launch_se_forward(Context& ctx, float* y, float* pooled, float* hidden, float* gate, const float* x,
                       const float* w1, const float* b1, const float* w2, const float* b2, const SEShape& s) {
  if (s.N <= 0 || s.C <= 0 || s.HW <= 0) return;
  launch_image_colsum(ctx, pooled, nullptr, x, nullptr, nullptr, s.N, s.HW, s.C);
  if (s.R > 0) {
    launch(se_fc1_kernel, warp_blocks(int64_t(s.N) * s.R), kThreads, 0, ctx.stream, hidden, pooled, w1, b1, s.N, s.C,
        s.R);
    GNAS_CUDA_LAUNCHED("se_fc1_kernel");
  }
  launch(se_fc2_kernel, warp_blocks(int64_t(s.N) * s.C), kThreads, 0, ctx.stream, gate, hidden, w2, b2, s.N, s.C, s.R);
  GNAS_CUDA_LAUNCHED("se_fc2_kernel");
  launch_se_scale(ctx, y, x, gate, s);
}

void launch_se_scale(Context& ctx, float* y, const float* x, const float* gate, const SEShape& s) {
  if (s.N <= 0 || s.C <= 0 || s.HW <= 0) return;
  launch_scale(ctx, y, x, gate, nullptr, s.N, s.HW, s.C);
}

void launch_se_backward(Context& ctx, float* dx, float* dw1, float* db1, float* dw2, float* db2, const float* dy,
                        const float* x, const float* pooled, const float* hidden, const float* gate, const float* w1,
                        const float* w2, const SEShape& s) {
  if (s.C <= 0) return;
  if (s.N <= 0 || s.HW <= 0) {
    // no images: zero weight gradients (as the reference's sums over nothing)
    launch_fill(ctx, dw1, 0.f, int64_t(s.R) * s.C);
    launch_fill(ctx, db1, 0.f, s.R);
    launch_fill(ctx, dw2, 0.f, int64_t(s.C) * s.R);
    launch_fill(ctx, db2, 0.f, s.C);
    return;
  }
  const int64_t NC = int64_t(s.N) * s.C, NR = int64_t(s.N) * s.R;
  ScratchBuffer dlogit(ctx, NC * 2);                   // doubles
  ScratchBuffer dpre(ctx, (NR > 0 ? NR : 1) * 2);       // doubles
  // dlogit[n][c] = (sum_i dy x) gate (1 - gate)
  launch_image_colsum(ctx, nullptr, dlogit.as_double(), dy, x, gate, s.N, s.HW, s.C);
  if (s.R > 0) {
    launch(se_dpre_kernel, thread_blocks(NR), kThreads, 0, ctx.stream, dpre.as_double(), dlogit.as_double(), hidden, w2,
        s.N, s.C, s.R);
    GNAS_CUDA_LAUNCHED("se_dpre_kernel");
  }
  // dw2[c][r] = sum_n dlogit[n][c] hidden[n][r], db2[c] = sum_n dlogit[n][c]
  launch(outer_sum_kernel, thread_blocks(int64_t(s.C) * (s.R + 1)), kThreads, 0, ctx.stream, dw2, db2,
      dlogit.as_double(), hidden, s.N, s.C, s.R);
  GNAS_CUDA_LAUNCHED("outer_sum_kernel<dw2>");
  if (s.R > 0) {
    // dw1[r][c] = sum_n dpre[n][r] pooled[n][c], db1[r] = sum_n dpre[n][r]
    launch(outer_sum_kernel, thread_blocks(int64_t(s.R) * (s.C + 1)), kThreads, 0, ctx.stream, dw1, db1,
        dpre.as_double(), pooled, s.N, s.R, s.C);
    GNAS_CUDA_LAUNCHED("outer_sum_kernel<dw1>");
  }
  if (!dx) return;
  ScratchBuffer dpool(ctx, NC);
  if (s.R > 0) {
    launch(se_dpool_kernel, thread_blocks(NC), kThreads, 0, ctx.stream, dpool.data(), dpre.as_double(), w1, s.N, s.C,
        s.R, s.HW);
    GNAS_CUDA_LAUNCHED("se_dpool_kernel");
  } else {
    launch_fill(ctx, dpool.data(), 0.f, NC);
  }
  launch_scale(ctx, dx, dy, gate, dpool.data(), s.N, s.HW, s.C);
}

}  // namespace cuda
}  // namespace gnas
