// Depthwise k x k convolution (w[k][k][C], NHWC), forward (optionally reading act(bn(x)) on load)
// and backward.
//
// Forward: a 2-D grid, y over output rows (n, p), x over (column tile, channel group) items of a
// row, channel group fastest so a warp reads contiguous channels. A thread computes QT = 4
// consecutive output columns of V = 4 (float4; C % 4 == 0 and aligned pointers) or 1 channel: per
// kernel row it loads the k weights once and the (QT - 1) * stride + k input columns once, each
// reused by every output column it touches. Kernel size and stride are template parameters
// (k = 3/5/7, stride 1/2); anything else runs a generic one-output-per-thread kernel.
//
// Backward dx: a gather, one input pixel (and V channels) per thread: the sum over the taps (i, j)
// whose output position (h + pad - i) / stride, (w + pad - j) / stride is integral and in range.
// No atomics.
//
// Backward dw[k][k][C]: a reduction over the N*P*Q output pixels per (tap, channel), two-stage and
// deterministic: a (channel tiles x pixel chunks) grid of (32 x 8) blocks, each thread keeping the
// k*k tap sums of its channel over a strided subset of the chunk's pixels in float registers (at
// most ~512 pixels per thread), the block summing its 8 row lanes per tap in a fixed order in
// double into partial[chunk][k*k][C]; then a finalize kernel summing the chunks in order.
#include <climits>
#include <cmath>
#include <stdexcept>
#include <string>

#include "backends/cuda/kernel_helpers.cuh"
#include "backends/cuda/launchers.h"

namespace gnas {
namespace cuda {
namespace {

constexpr int kQT = 4;          // output columns per thread (forward)
constexpr int kDwThreads = 128;  // block size of the forward / dx kernels
constexpr int kRowLanes = 8;    // blockDim.y of the dw reduction

// The input BN + activation, with the activation in branch-free form:
//   r = min(max(z + sh, lo), hi);  a = hs ? z * r / 6 : r
// None: (0, -inf, inf, no); ReLU: (0, 0, inf, no); ReLU6: (0, 0, 6, no); HSwish: (3, 0, 6, yes),
// which gives exactly the values of act_fwd<A> (kernel_helpers.cuh) for every non-NaN z.
struct BnIn {
  const float* mean;
  const float* invstd;
  const float* gamma;
  const float* beta;
  float sh, lo, hi;
  bool hs;
};

BnIn make_bn_in(const BnAct* b) {
  BnIn r{nullptr, nullptr, nullptr, nullptr, 0.f, -INFINITY, INFINITY, false};
  if (!b) return r;
  r.mean = b->mean;
  r.invstd = b->invstd;
  r.gamma = b->gamma;
  r.beta = b->beta;
  switch (b->act) {
    case Act::ReLU: r.lo = 0.f; break;
    case Act::ReLU6: r.lo = 0.f; r.hi = 6.f; break;
    case Act::HSwish: r.sh = 3.f; r.lo = 0.f; r.hi = 6.f; r.hs = true; break;
    default: break;
  }
  return r;
}

__device__ __forceinline__ float bn_act_in(float x, float mu, float is, float g, float b, const BnIn& bn) {
  const float z = g * ((x - mu) * is) + b;
  const float r = fminf(fmaxf(z + bn.sh, bn.lo), bn.hi);
  return bn.hs ? z * r / 6.f : r;
}

template <int V>
struct Vec {
  float v[V];
};

template <int V>
__device__ __forceinline__ Vec<V> ldv(const float* p) {
  Vec<V> r;
  if constexpr (V == 4) {
    const float4 t = *reinterpret_cast<const float4*>(p);
    r.v[0] = t.x; r.v[1] = t.y; r.v[2] = t.z; r.v[3] = t.w;
  } else {
#pragma unroll
    for (int k = 0; k < V; ++k) r.v[k] = p[k];
  }
  return r;
}

template <int V>
__device__ __forceinline__ void stv(float* p, const float (&a)[V]) {
  if constexpr (V == 4) {
    *reinterpret_cast<float4*>(p) = make_float4(a[0], a[1], a[2], a[3]);
  } else {
#pragma unroll
    for (int k = 0; k < V; ++k) p[k] = a[k];
  }
}

// ---------------- forward ----------------
template <int K, int S, int V, bool BN>
__global__ void __launch_bounds__(kDwThreads)
    dw_fwd_kernel(float* __restrict__ y, const float* __restrict__ x, const float* __restrict__ w, BnIn bn, int rows,
                  int H, int W, int C, int P, int Q, int pad, int CV, int QB) {
  constexpr int SPAN = (kQT - 1) * S + K;  // input columns a thread reads per kernel row
  const int item = blockIdx.x * blockDim.x + threadIdx.x;
  if (item >= QB * CV) return;
  const int cv = item % CV, qb = item / CV;
  const int c0 = cv * V, q0 = qb * kQT;
  float bm[V], bi[V], bg[V], bb[V];
  if (BN) {
#pragma unroll
    for (int k = 0; k < V; ++k) {
      bm[k] = bn.mean[c0 + k];
      bi[k] = bn.invstd[c0 + k];
      bg[k] = bn.gamma[c0 + k];
      bb[k] = bn.beta[c0 + k];
    }
  }
  for (int row = blockIdx.y; row < rows; row += gridDim.y) {
    const int n = row / P, p = row - n * P;
    float acc[kQT][V];
#pragma unroll
    for (int t = 0; t < kQT; ++t)
#pragma unroll
      for (int k = 0; k < V; ++k) acc[t][k] = 0.f;
    const int wbase = q0 * S - pad;
#pragma unroll
    for (int i = 0; i < K; ++i) {
      const int h = p * S - pad + i;
      if (h < 0 || h >= H) continue;
      float wr[K][V];
#pragma unroll
      for (int j = 0; j < K; ++j) {
        const Vec<V> t = ldv<V>(w + (i * K + j) * C + c0);
#pragma unroll
        for (int k = 0; k < V; ++k) wr[j][k] = t.v[k];
      }
      const float* xr = x + (int64_t(n) * H + h) * W * C + c0;
#pragma unroll
      for (int jj = 0; jj < SPAN; ++jj) {
        const int ww = wbase + jj;
        float xv[V];
        if (ww >= 0 && ww < W) {
          const Vec<V> t = ldv<V>(xr + int64_t(ww) * C);
#pragma unroll
          for (int k = 0; k < V; ++k)
            xv[k] = BN ? bn_act_in(t.v[k], bm[k], bi[k], bg[k], bb[k], bn) : t.v[k];
        } else {
#pragma unroll
          for (int k = 0; k < V; ++k) xv[k] = 0.f;  // zero padding of the (activated) input
        }
#pragma unroll
        for (int t = 0; t < kQT; ++t) {
          const int j = jj - t * S;  // compile-time after unrolling
          if (j >= 0 && j < K) {
#pragma unroll
            for (int k = 0; k < V; ++k) acc[t][k] = fmaf(xv[k], wr[j][k], acc[t][k]);
          }
        }
      }
    }
    float* yr = y + (int64_t(n) * P + p) * Q * C + c0;
#pragma unroll
    for (int t = 0; t < kQT; ++t)
      if (q0 + t < Q) stv<V>(yr + int64_t(q0 + t) * C, acc[t]);
  }
}

// Any k / stride / pad: one output element per thread, flat grid-stride.
template <bool BN>
__global__ void dw_fwd_generic_kernel(float* __restrict__ y, const float* __restrict__ x, const float* __restrict__ w,
                                      BnIn bn, int N, int H, int W, int C, int P, int Q, int k, int stride, int pad) {
  const int64_t total = int64_t(N) * P * Q * C;
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int c = int(idx % C);
    int64_t t = idx / C;
    const int q = int(t % Q);
    t /= Q;
    const int p = int(t % P);
    const int n = int(t / P);
    float acc = 0.f;
    for (int i = 0; i < k; ++i) {
      const int h = p * stride - pad + i;
      if (h < 0 || h >= H) continue;
      for (int j = 0; j < k; ++j) {
        const int ww = q * stride - pad + j;
        if (ww < 0 || ww >= W) continue;
        float xv = x[((int64_t(n) * H + h) * W + ww) * C + c];
        if (BN) xv = bn_act_in(xv, bn.mean[c], bn.invstd[c], bn.gamma[c], bn.beta[c], bn);
        acc = fmaf(xv, w[(int64_t(i) * k + j) * C + c], acc);
      }
    }
    y[idx] = acc;
  }
}

// ---------------- backward dx (gather) ----------------
template <int K, int S, int V>
__global__ void __launch_bounds__(kDwThreads)
    dw_dx_kernel(float* __restrict__ dx, const float* __restrict__ dy, const float* __restrict__ w, int rows, int H,
                 int W, int C, int P, int Q, int pad, int CV) {
  const int item = blockIdx.x * blockDim.x + threadIdx.x;
  if (item >= W * CV) return;
  const int cv = item % CV, wc = item / CV;
  const int c0 = cv * V;
  for (int row = blockIdx.y; row < rows; row += gridDim.y) {
    const int n = row / H, h = row - n * H;
    float acc[V];
#pragma unroll
    for (int k = 0; k < V; ++k) acc[k] = 0.f;
#pragma unroll
    for (int i = 0; i < K; ++i) {
      const int hp = h + pad - i;  // = p * S when tap i of output row p reads input row h
      if (hp < 0 || hp % S != 0) continue;
      const int p = hp / S;
      if (p >= P) continue;
      const float* dyr = dy + (int64_t(n) * P + p) * Q * C + c0;
#pragma unroll
      for (int j = 0; j < K; ++j) {
        const int wq = wc + pad - j;
        if (wq < 0 || wq % S != 0) continue;
        const int q = wq / S;
        if (q >= Q) continue;
        const Vec<V> g = ldv<V>(dyr + int64_t(q) * C);
        const Vec<V> wt = ldv<V>(w + (i * K + j) * C + c0);
#pragma unroll
        for (int k = 0; k < V; ++k) acc[k] = fmaf(g.v[k], wt.v[k], acc[k]);
      }
    }
    stv<V>(dx + ((int64_t(n) * H + h) * W + wc) * C + c0, acc);
  }
}

__global__ void dw_dx_generic_kernel(float* __restrict__ dx, const float* __restrict__ dy, const float* __restrict__ w,
                                     int N, int H, int W, int C, int P, int Q, int k, int stride, int pad) {
  const int64_t total = int64_t(N) * H * W * C;
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int c = int(idx % C);
    int64_t t = idx / C;
    const int wc = int(t % W);
    t /= W;
    const int h = int(t % H);
    const int n = int(t / H);
    float acc = 0.f;
    for (int i = 0; i < k; ++i) {
      const int hp = h + pad - i;
      if (hp < 0 || hp % stride != 0) continue;
      const int p = hp / stride;
      if (p >= P) continue;
      for (int j = 0; j < k; ++j) {
        const int wq = wc + pad - j;
        if (wq < 0 || wq % stride != 0) continue;
        const int q = wq / stride;
        if (q >= Q) continue;
        acc = fmaf(dy[((int64_t(n) * P + p) * Q + q) * C + c], w[(int64_t(i) * k + j) * C + c], acc);
      }
    }
    dx[idx] = acc;
  }
}

// ---------------- backward dw (two-stage) ----------------
// Pixel position (n, p, q) of a flat output pixel index, advanced by a fixed step with carries.
struct PixelCursor {
  int64_t m;
  int n, p, q;
};
struct PixelStep {
  int dn, dp, dq;  // the step R written in the mixed radix (N, P, Q): R = (dn * P + dp) * Q + dq
};

__device__ __forceinline__ void cursor_init(PixelCursor& cur, int64_t m, int P, int Q) {
  cur.m = m;
  const int64_t t = m / Q;
  cur.q = int(m - t * Q);
  cur.n = int(t / P);
  cur.p = int(t - int64_t(cur.n) * P);
}
__device__ __forceinline__ void cursor_advance(PixelCursor& cur, const PixelStep& st, int64_t R, int P, int Q) {
  cur.m += R;
  cur.q += st.dq;
  cur.p += st.dp;
  cur.n += st.dn;
  if (cur.q >= Q) {
    cur.q -= Q;
    cur.p += 1;
  }
  if (cur.p >= P) {
    cur.p -= P;
    cur.n += 1;
  }
}

// Sums this block's 8 row lanes of `val` per channel (fixed order, double) into
// part[(chunk * KK + tap) * C + c].
__device__ __forceinline__ void dw_reduce_tap(float (&red)[kRowLanes][32], float val, double* __restrict__ part,
                                              int chunk, int KK, int tap, int C, int cw, int g, int c) {
  const int lane = threadIdx.x, ty = threadIdx.y;
  red[ty][lane] = val;
  __syncthreads();
  const int sub = lane / cw, cl = lane - sub * cw;
  if (ty == 0 && sub == 0 && c < C) {
    double s = 0;
    for (int yy = 0; yy < kRowLanes; ++yy)
      for (int sb = 0; sb < g; ++sb) s += double(red[yy][sb * cw + cl]);
    part[(int64_t(chunk) * KK + tap) * C + c] = s;
  }
  __syncthreads();
}

template <int K, int S>
__global__ void __launch_bounds__(32 * kRowLanes)
    dw_dw_partial_kernel(double* __restrict__ part, const float* __restrict__ dy, const float* __restrict__ x,
                         int64_t Mpix, int H, int W, int C, int P, int Q, int pad, int cw, int g,
                         int64_t pix_per_chunk, PixelStep step) {
  __shared__ float red[kRowLanes][32];
  const int lane = threadIdx.x;
  const int sub = lane / cw, cl = lane - sub * cw;
  const int c = blockIdx.x * cw + cl;
  const bool active = sub < g && c < C;
  const int R = kRowLanes * g, r = threadIdx.y * g + sub;
  const int64_t m0 = int64_t(blockIdx.y) * pix_per_chunk;
  const int64_t m1 = m0 + pix_per_chunk < Mpix ? m0 + pix_per_chunk : Mpix;
  float acc[K * K];
#pragma unroll
  for (int t = 0; t < K * K; ++t) acc[t] = 0.f;
  if (active && m0 + r < m1) {
    PixelCursor cur;
    cursor_init(cur, m0 + r, P, Q);
    for (; cur.m < m1; cursor_advance(cur, step, R, P, Q)) {
      const float gv = dy[cur.m * C + c];
      const int hb = cur.p * S - pad, wb = cur.q * S - pad;
      const float* xn = x + int64_t(cur.n) * H * W * C + c;
#pragma unroll
      for (int i = 0; i < K; ++i) {
        const int h = hb + i;
        if (h < 0 || h >= H) continue;
        const float* xr = xn + int64_t(h) * W * C;
#pragma unroll
        for (int j = 0; j < K; ++j) {
          const int ww = wb + j;
          if (ww >= 0 && ww < W) acc[i * K + j] = fmaf(gv, xr[int64_t(ww) * C], acc[i * K + j]);
        }
      }
    }
  }
#pragma unroll
  for (int t = 0; t < K * K; ++t) dw_reduce_tap(red, acc[t], part, blockIdx.y, K * K, t, C, cw, g, c);
}

// Any k / stride / pad: blockIdx.z is the tap, one sum per thread.
__global__ void __launch_bounds__(32 * kRowLanes)
    dw_dw_partial_generic_kernel(double* __restrict__ part, const float* __restrict__ dy, const float* __restrict__ x,
                                 int64_t Mpix, int H, int W, int C, int P, int Q, int k, int stride, int pad, int cw,
                                 int g, int64_t pix_per_chunk, PixelStep step) {
  __shared__ float red[kRowLanes][32];
  const int tap = blockIdx.z, i = tap / k, j = tap - i * k;
  const int lane = threadIdx.x;
  const int sub = lane / cw, cl = lane - sub * cw;
  const int c = blockIdx.x * cw + cl;
  const bool active = sub < g && c < C;
  const int R = kRowLanes * g, r = threadIdx.y * g + sub;
  const int64_t m0 = int64_t(blockIdx.y) * pix_per_chunk;
  const int64_t m1 = m0 + pix_per_chunk < Mpix ? m0 + pix_per_chunk : Mpix;
  float acc = 0.f;
  if (active && m0 + r < m1) {
    PixelCursor cur;
    cursor_init(cur, m0 + r, P, Q);
    for (; cur.m < m1; cursor_advance(cur, step, R, P, Q)) {
      const int h = cur.p * stride - pad + i, ww = cur.q * stride - pad + j;
      if (h < 0 || h >= H || ww < 0 || ww >= W) continue;
      acc = fmaf(dy[cur.m * C + c], x[((int64_t(cur.n) * H + h) * W + ww) * C + c], acc);
    }
  }
  dw_reduce_tap(red, acc, part, blockIdx.y, k * k, tap, C, cw, g, c);
}

// dw[e] = sum over chunks of part[chunk][e], e = tap * C + c, in chunk order.
__global__ void dw_dw_finalize_kernel(float* __restrict__ dw, const double* __restrict__ part, int chunks, int64_t n) {
  const int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= n) return;
  double s = 0;
  for (int k = 0; k < chunks; ++k) s += part[int64_t(k) * n + e];
  dw[e] = float(s);
}

// ---------------- launch helpers ----------------
void check_shape(const ConvShape& s) {
  if (s.K != s.C) throw std::invalid_argument("dwconv: K (" + std::to_string(s.K) + ") != C (" + std::to_string(s.C) + ")");
  if (s.k < 1 || s.stride < 1 || s.pad < 0)
    throw std::invalid_argument("dwconv: bad kernel " + std::to_string(s.k) + " stride " + std::to_string(s.stride));
  if (int64_t(s.N) * s.H > INT_MAX || int64_t(s.N) * s.P > INT_MAX || int64_t(s.k) * s.k * s.C > INT_MAX ||
      int64_t(s.W) * s.C > INT_MAX || int64_t(s.Q) * s.C > INT_MAX)
    throw std::invalid_argument("dwconv: shape too large for the CUDA kernels");
}

inline unsigned grid_rows(int rows) { return unsigned(rows < 65535 ? rows : 65535); }

template <int K, int S>
void fwd_ks(Context& ctx, float* y, const float* x, const float* w, const BnIn& bn, bool has_bn, const ConvShape& s,
            bool vec) {
  const int CV = vec ? s.C / 4 : s.C;
  const int QB = ceil_div(s.Q, kQT);
  const int rows = s.N * s.P;
  const dim3 grid(unsigned(ceil_div(int64_t(QB) * CV, kDwThreads)), grid_rows(rows));
#define GNAS_DW_FWD(V, B)                                                                                   \
  launch(dw_fwd_kernel<K, S, V, B>, grid, kDwThreads, 0, ctx.stream, y, x, w, bn, rows, s.H, s.W, s.C, s.P, s.Q, \
         s.pad, CV, QB)
  if (vec) {
    if (has_bn) GNAS_DW_FWD(4, true); else GNAS_DW_FWD(4, false);
  } else {
    if (has_bn) GNAS_DW_FWD(1, true); else GNAS_DW_FWD(1, false);
  }
#undef GNAS_DW_FWD
  GNAS_CUDA_LAUNCHED("dw_fwd_kernel");
}

template <int K, int S>
void dx_ks(Context& ctx, float* dx, const float* dy, const float* w, const ConvShape& s, bool vec) {
  const int CV = vec ? s.C / 4 : s.C;
  const int rows = s.N * s.H;
  const dim3 grid(unsigned(ceil_div(int64_t(s.W) * CV, kDwThreads)), grid_rows(rows));
  if (vec)
    launch(dw_dx_kernel<K, S, 4>, grid, kDwThreads, 0, ctx.stream, dx, dy, w, rows, s.H, s.W, s.C, s.P, s.Q, s.pad, CV);
  else
    launch(dw_dx_kernel<K, S, 1>, grid, kDwThreads, 0, ctx.stream, dx, dy, w, rows, s.H, s.W, s.C, s.P, s.Q, s.pad, CV);
  GNAS_CUDA_LAUNCHED("dw_dx_kernel");
}

struct DwPlan {
  int cw, g, R, tiles, chunks;
  int64_t pix_per_chunk;
  PixelStep step;
};

DwPlan plan_dw(const Context& ctx, int64_t Mpix, int C, int P, int Q) {
  DwPlan d;
  d.cw = C < 32 ? C : 32;
  d.g = 32 / d.cw;
  d.R = kRowLanes * d.g;
  d.tiles = ceil_div(C, d.cw);
  const int64_t target = int64_t(ctx.sm_count > 0 ? ctx.sm_count : 1) * 8;
  int64_t chunks = (target + d.tiles - 1) / d.tiles;
  // float accumulation per thread over at most ~512 pixels (precision), unless that needs > 16384 chunks
  const int64_t per_thread = 512;
  const int64_t for_precision = (Mpix + d.R * per_thread - 1) / (d.R * per_thread);
  if (chunks < for_precision) chunks = for_precision;
  // at least one pixel per row lane
  const int64_t max_chunks = (Mpix + d.R - 1) / d.R;
  if (chunks > max_chunks) chunks = max_chunks;
  if (chunks > 16384) chunks = 16384;
  if (chunks < 1) chunks = 1;
  d.pix_per_chunk = (Mpix + chunks - 1) / chunks;
  d.chunks = int((Mpix + d.pix_per_chunk - 1) / d.pix_per_chunk);
  const int64_t PQ = int64_t(P) * Q;
  d.step.dn = int(d.R / PQ);
  const int64_t rem = d.R - int64_t(d.step.dn) * PQ;
  d.step.dp = int(rem / Q);
  d.step.dq = int(rem - int64_t(d.step.dp) * Q);
  return d;
}

template <int K, int S>
void dw_partial_ks(Context& ctx, double* part, const float* dy, const float* x, const ConvShape& s, int64_t Mpix,
                   const DwPlan& d) {
  launch(dw_dw_partial_kernel<K, S>, dim3(unsigned(d.tiles), unsigned(d.chunks)), dim3(32, kRowLanes), 0, ctx.stream,
      part, dy, x, Mpix, s.H, s.W, s.C, s.P, s.Q, s.pad, d.cw, d.g, d.pix_per_chunk, d.step);
  GNAS_CUDA_LAUNCHED("dw_dw_partial_kernel");
}

// Calls FN<k, stride>(args...) for the supported template pairs; returns false otherwise.
#define GNAS_DW_KS_DISPATCH(FN, ...)                               \
  [&]() -> bool {                                                  \
    if (s.k == 3 && s.stride == 1) { FN<3, 1>(__VA_ARGS__); return true; } \
    if (s.k == 3 && s.stride == 2) { FN<3, 2>(__VA_ARGS__); return true; } \
    if (s.k == 5 && s.stride == 1) { FN<5, 1>(__VA_ARGS__); return true; } \
    if (s.k == 5 && s.stride == 2) { FN<5, 2>(__VA_ARGS__); return true; } \
    if (s.k == 7 && s.stride == 1) { FN<7, 1>(__VA_ARGS__); return true; } \
    if (s.k == 7 && s.stride == 2) { FN<7, 2>(__VA_ARGS__); return true; } \
    return false;                                                  \
  }()

}  // namespace

void launch_dwconv_forward(Context& ctx, float* y, const float* x, const BnAct* in_bn, const float* w,
                           const ConvShape& s) {
  check_shape(s);
  if (s.N <= 0 || s.C <= 0 || s.P <= 0 || s.Q <= 0) return;
  const BnIn bn = make_bn_in(in_bn);
  const bool has_bn = in_bn != nullptr;
  // BN parameters are read with scalar loads, so only x, y, w matter for float4
  const bool vec = s.C % 4 == 0 && aligned16(x) && aligned16(y) && aligned16(w);
  const bool done = GNAS_DW_KS_DISPATCH(fwd_ks, ctx, y, x, w, bn, has_bn, s, vec);
  if (done) return;
  const int blocks = flat_blocks(ctx, s.out_size());
  if (has_bn)
    launch(dw_fwd_generic_kernel<true>, blocks, kThreads, 0, ctx.stream, y, x, w, bn, s.N, s.H, s.W, s.C, s.P, s.Q, s.k,
        s.stride, s.pad);
  else
    launch(dw_fwd_generic_kernel<false>, blocks, kThreads, 0, ctx.stream, y, x, w, bn, s.N, s.H, s.W, s.C, s.P, s.Q,
        s.k, s.stride, s.pad);
  GNAS_CUDA_LAUNCHED("dw_fwd_generic_kernel");
}

void launch_dwconv_backward(Context& ctx, float* dx, float* dw, const float* dy, const float* x, const float* w,
                            const ConvShape& s) {
  check_shape(s);
  if (s.C <= 0) return;
  const int64_t KK = int64_t(s.k) * s.k;
  const int64_t Mpix = int64_t(s.N) * s.P * s.Q;
  if (Mpix <= 0) {
    // no output pixels: the gradients are zero
    launch_fill(ctx, dw, 0.f, KK * s.C);
    if (dx) launch_fill(ctx, dx, 0.f, s.in_size());
    return;
  }
  // ---- dx ----
  if (dx && s.in_size() > 0) {
    const bool vec = s.C % 4 == 0 && aligned16(dx) && aligned16(dy) && aligned16(w);
    const bool done = GNAS_DW_KS_DISPATCH(dx_ks, ctx, dx, dy, w, s, vec);
    if (!done) {
      launch(dw_dx_generic_kernel, flat_blocks(ctx, s.in_size()), kThreads, 0, ctx.stream, dx, dy, w, s.N, s.H, s.W,
          s.C, s.P, s.Q, s.k, s.stride, s.pad);
      GNAS_CUDA_LAUNCHED("dw_dx_generic_kernel");
    }
  }
  // ---- dw ----
  const DwPlan d = plan_dw(ctx, Mpix, s.C, s.P, s.Q);
  const int64_t nw = KK * s.C;
  ScratchBuffer part(ctx, int64_t(d.chunks) * nw * 2);  // doubles
  const bool done = GNAS_DW_KS_DISPATCH(dw_partial_ks, ctx, part.as_double(), dy, x, s, Mpix, d);
  if (!done) {
    if (KK > 65535) throw std::invalid_argument("dwconv: kernel too large for the CUDA kernels");
    launch(dw_dw_partial_generic_kernel, dim3(unsigned(d.tiles), unsigned(d.chunks), unsigned(KK)), dim3(32, kRowLanes),
        0, ctx.stream, part.as_double(), dy, x, Mpix, s.H, s.W, s.C, s.P, s.Q, s.k, s.stride, s.pad, d.cw, d.g,
        d.pix_per_chunk, d.step);
    GNAS_CUDA_LAUNCHED("dw_dw_partial_generic_kernel");
  }
  launch(dw_dw_finalize_kernel, ceil_div(nw, kThreads), kThreads, 0, ctx.stream, dw, part.as_double(), d.chunks, nw);
  GNAS_CUDA_LAUNCHED("dw_dw_finalize_kernel");
}

}  // namespace cuda
}  // namespace gnas
