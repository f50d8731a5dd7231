// Dense convolutions and the fully connected layer on the GPU (dense.h), on the GEMM core of
// gemm.cuh. Every dense op is one or two launches of that core plus a small fixed-order reduction:
//
//   forward        y[M][K] = A[M][R] . w[K][R]^T, M = N*P*Q, R = k*k*C. A is x itself for a 1x1
//                  stride-1 conv (kDirect), else the implicit im2col of x (kConv: strided 1x1 rows
//                  are the subsampled pixels, k x k taps read zero outside the image). The fused
//                  input BN (in_bn) is folded to scale/shift per channel and applied as A is loaded;
//                  padding stays 0. Block tiles 128 x {32, 64, 128} (by K).
//   output stats   (out_mean) each 128-row tile of y writes its column sums of y and y^2 (float over
//                  <= 64 rows, then double) to scratch psum/psq[tile][K]; stats_finalize_kernel sums
//                  the tiles in a fixed order in double: mean = S/M, var = max(Q/M - mean^2, 0),
//                  invstd = 1/sqrt(var + eps) (E[y^2] - E[y]^2 as the CPU backend does).
//   input grad     1x1 stride 1: dx[M][C] = dy[M][K] . w[K][C] (w read "NN"); 1x1 strided (pad 0):
//                  dx is zeroed, then the same GEMM writes each row to its input pixel
//                  (n, p*s, q*s); any other k x k: conv_dx_direct_kernel, one thread per dx element
//                  summing its taps in a fixed order (correct, not fast: only the stem is k x k and
//                  its dx is not needed).
//   weight grad    dw[K][R] = dy^T . A, a reduction over the M pixels: the pixels are split into S
//                  chunks (blockIdx.z) of at most 4096 rows, each chunk's [K][R] product goes to its
//                  own scratch partial, and split_reduce_kernel sums the S partials in a fixed order in
//                  double (dw is overwritten; S == 1 writes dw directly). S depends on the shape
//                  only (not on the device), so results are the same on any GPU of a math mode.
//   fc             forward = the 1x1 forward with a bias epilogue; backward = the dx and dw GEMMs
//                  above with N images as the rows, db by colsum_kernel (double, fixed order).
//
// ctx.math picks the GEMM arithmetic: FP32 = SIMT float FMAs (exact float; what the tests compare
// to the reference), TF32 / BF16 = wmma tensor cores with FP32 accumulation. Shapes too small for
// a tensor-core tile (fewer than 16 outputs or reduction indices in rows problems, a weight
// gradient under 64 x 64) run in FP32. No floating-point atomics anywhere: every sum has a fixed
// order, so results are bit-identical run to run.
#include <atomic>
#include <climits>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include "backends/cuda/dense.h"
#include "backends/cuda/gemm.cuh"

namespace gnas {
namespace cuda {
namespace dense_detail {

using gemm::ColOp;
using gemm::GemmArgs;
using gemm::Kind;
using gemm::kConv;
using gemm::kDirect;
using gemm::Operand;
using gemm::RowOp;
using gemm::SimtCfg;
using gemm::TcCfg;

constexpr int kRowsBM = 128;           // row tile of the rows problems (forward, dx, fc)
constexpr int kMaxChunk = 4096;        // weight gradient: pixels summed in float per partial
constexpr int kSplitTargetBlocks = 512;  // weight gradient: aim for this many blocks (all tiles x chunks)

// ---- small kernels ----

// scale = gamma * invstd, shift = beta - mean * scale (the CPU backend's folding).
__global__ void bn_fold_kernel(float* scale, float* shift, const float* mean, const float* invstd,
                               const float* gamma, const float* beta, int C) {
  const int c = int(blockIdx.x) * int(blockDim.x) + int(threadIdx.x);
  if (c >= C) return;
  const float sc = gamma[c] * invstd[c];
  scale[c] = sc;
  shift[c] = beta[c] - mean[c] * sc;
}

// Fixed-order column sums of a [parts][n] array, shared by the two reductions below. Block
// (32, ry): thread (tx, ty) sums rows ty, ty + ry, ty + 2 ry, ... of column col in double, in
// increasing order (loads unrolled by 4 for memory-level parallelism, adds kept in order); the
// caller then adds the ry lane sums in order of ty. The result depends on ry, which the host
// picks from `parts` alone.
template <class T>
__device__ __forceinline__ double lane_sum(const T* a, int parts, int64_t n, int64_t col) {
  const int ry = int(blockDim.y);
  double s = 0.0;
  int p = int(threadIdx.y);
  for (; p + 3 * ry < parts; p += 4 * ry) {
    const T v0 = a[int64_t(p) * n + col];
    const T v1 = a[int64_t(p + ry) * n + col];
    const T v2 = a[int64_t(p + 2 * ry) * n + col];
    const T v3 = a[int64_t(p + 3 * ry) * n + col];
    s += double(v0);
    s += double(v1);
    s += double(v2);
    s += double(v3);
  }
  for (; p < parts; p += ry) s += double(a[int64_t(p) * n + col]);
  return s;
}

int reduce_rows_for(int64_t parts) { return parts >= 128 ? 32 : (parts >= 16 ? 8 : 1); }

// Output statistics: mean[k] = S/M, invstd[k] = 1/sqrt(max(Q/M - mean^2, 0) + eps) from the GEMM's
// per-tile partials psum/psq[parts][K]. Block (32, ry <= 32), grid ceil(K / 32).
__global__ void stats_finalize_kernel(float* mean, float* invstd, const double* psum, const double* psq, int parts,
                                      int K, int64_t M, float eps) {
  __shared__ double ss[32][33];
  __shared__ double sq[32][33];
  const int tx = int(threadIdx.x), ty = int(threadIdx.y);
  const int k = int(blockIdx.x) * 32 + tx;
  ss[ty][tx] = k < K ? lane_sum(psum, parts, K, k) : 0.0;
  sq[ty][tx] = k < K ? lane_sum(psq, parts, K, k) : 0.0;
  __syncthreads();
  if (ty == 0 && k < K) {
    double S = 0.0, Q = 0.0;
    for (int y = 0; y < int(blockDim.y); ++y) {
      S += ss[y][tx];
      Q += sq[y][tx];
    }
    const double m = M > 0 ? S / double(M) : 0.0;
    double var = M > 0 ? Q / double(M) - m * m : 0.0;
    if (var < 0.0) var = 0.0;
    mean[k] = float(m);
    invstd[k] = float(1.0 / sqrt(var + double(eps)));
  }
}

// out[i] = sum over s < S of part[s * n + i] (double, fixed order). Block (32, ry), grid ceil(n / 32).
__global__ void split_reduce_kernel(float* out, const float* part, int S, int64_t n) {
  __shared__ double sh[32][33];
  const int tx = int(threadIdx.x), ty = int(threadIdx.y);
  const int64_t i = int64_t(blockIdx.x) * 32 + tx;
  sh[ty][tx] = i < n ? lane_sum(part, S, n, i) : 0.0;
  __syncthreads();
  if (ty == 0 && i < n) {
    double acc = 0.0;
    for (int y = 0; y < int(blockDim.y); ++y) acc += sh[y][tx];
    out[i] = float(acc);
  }
}

// db[k] = sum_n dy[n][k] in double, in order.
__global__ void colsum_kernel(float* db, const float* dy, int N, int K) {
  const int k = int(blockIdx.x) * int(blockDim.x) + int(threadIdx.x);
  if (k >= K) return;
  double acc = 0.0;
  for (int n = 0; n < N; ++n) acc += double(dy[int64_t(n) * K + k]);
  db[k] = float(acc);
}

// Input gradient of a general dense conv: dx[n][h][w][c] = sum over the taps (i, j) whose output
// pixel (p, q) = ((h + pad - i) / stride, (w + pad - j) / stride) exists, of
// sum_o dy[n][p][q][o] * w[o][i][j][c]. One thread per dx element, fixed order.
__global__ void conv_dx_direct_kernel(float* dx, const float* dy, const float* w, const ConvShape s) {
  const int64_t total = int64_t(s.N) * s.H * s.W * s.C;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t wo = int64_t(s.k) * s.k * s.C;  // stride of o in w
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total; idx += stride) {
    const int c = int(idx % s.C);
    const int64_t pix = idx / s.C;
    const int x = int(pix % s.W);
    const int64_t t = pix / s.W;
    const int h = int(t % s.H);
    const int64_t n = t / s.H;
    float acc = 0.0f;
    for (int i = 0; i < s.k; ++i) {
      const int hp = h + s.pad - i;
      if (hp < 0 || hp % s.stride != 0) continue;
      const int p = hp / s.stride;
      if (p >= s.P) continue;
      for (int j = 0; j < s.k; ++j) {
        const int wq = x + s.pad - j;
        if (wq < 0 || wq % s.stride != 0) continue;
        const int q = wq / s.stride;
        if (q >= s.Q) continue;
        const float* g = dy + ((n * s.P + p) * s.Q + q) * s.K;
        const float* wp = w + (int64_t(i) * s.k + j) * s.C + c;
        for (int o = 0; o < s.K; ++o) acc = fmaf(g[o], wp[int64_t(o) * wo], acc);
      }
    }
    dx[idx] = acc;
  }
}

// ---- host helpers ----

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

int grid_1d(int64_t n, int threads) {
  const int64_t b = (n + threads - 1) / threads;
  return int(b < 1 ? 1 : (b > 8192 ? 8192 : b));
}

// Row and column counts stay below INT_MAX - 256 so that tile origins + offsets fit an int.
int to_int(int64_t v, const char* what) {
  if (v < 0 || v > INT_MAX - 256) throw std::invalid_argument(std::string("dense: ") + what + " out of range");
  return int(v);
}

void zero(Context& ctx, float* p, int64_t n) {
  if (n > 0) GNAS_CUDA_CHECK(cudaMemsetAsync(p, 0, size_t(n) * sizeof(float), ctx.stream));
}

Operand direct(const float* p, int rows, int cols, int64_t ld) {
  Operand op;
  op.p = p;
  op.rows = rows;
  op.cols = cols;
  op.ld = ld;
  op.vec = aligned16(p) && ld % 4 == 0;
  return op;
}

bool is_1x1_s1(const ConvShape& s) { return s.k == 1 && s.stride == 1 && s.pad == 0; }

// The A operand of a conv over x: x itself (1x1 stride 1) or its implicit im2col (rows = M output
// pixels, cols = k*k*C).
Operand conv_input(const float* x, const ConvShape& s, int M, int R) {
  if (is_1x1_s1(s)) return direct(x, M, s.C, s.C);
  Operand op;
  op.p = x;
  op.rows = M;
  op.cols = R;
  op.C = s.C;
  op.H = s.H;
  op.W = s.W;
  op.P = s.P;
  op.Q = s.Q;
  op.k = s.k;
  op.stride = s.stride;
  op.pad = s.pad;
  op.vec = aligned16(x) && s.C % 4 == 0;
  return op;
}

void check_shape(const ConvShape& s) {
  if (s.N < 0 || s.H < 0 || s.W < 0 || s.C < 0 || s.K < 0 || s.k < 1 || s.stride < 1 || s.pad < 0)
    throw std::invalid_argument("dense conv: invalid shape");
  // The kernels use s.P / s.Q as given (like the reference); the strided 1x1 input gradient
  // writes input row p * stride, which must exist.
  if (s.P < 0 || s.Q < 0 || s.P != (s.H + 2 * s.pad - s.k) / s.stride + 1 ||
      s.Q != (s.W + 2 * s.pad - s.k) / s.stride + 1)
    throw std::invalid_argument("dense conv: P/Q do not match the shape (ConvShape::finish)");
}

// ---- GEMM launch ----

template <class Cfg, class AOp, class BOp>
void launch(Context& ctx, const GemmArgs& g, int splits) {
  const int64_t gx = (int64_t(g.M) + Cfg::BM - 1) / Cfg::BM;
  const int64_t gy = (int64_t(g.N) + Cfg::BN - 1) / Cfg::BN;
  if (gx < 1 || gy < 1 || splits < 1) return;  // empty output
  if (gx > INT_MAX || gy > 65535 || splits > 65535) throw std::invalid_argument("dense: GEMM grid too large");
  constexpr int smem = Cfg::smem_bytes();
  auto kernel = gemm::gemm_kernel<Cfg, AOp, BOp>;
  if (smem > 48 * 1024) {
    // Opt in to more than 48 KiB of dynamic shared memory, once per kernel and device (not a
    // stream operation, so it is also kept out of any stream capture after the first use).
    static std::atomic<uint64_t> opted{0};
    const uint64_t bit = ctx.device >= 0 && ctx.device < 64 ? uint64_t(1) << ctx.device : 0;
    if (!bit || !(opted.load(std::memory_order_acquire) & bit)) {
      GNAS_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
      opted.fetch_or(bit, std::memory_order_acq_rel);
    }
  }
  GNAS_LAUNCH(kernel, dim3(unsigned(gx), unsigned(gy), unsigned(splits)), dim3(Cfg::NT), size_t(smem), ctx.stream,
              g);
  GNAS_CUDA_LAUNCHED("dense gemm_kernel");
}

// Column tile for n output columns: 32, 64 or 128 (128 unless it wastes clearly more than 64).
int pick_tile(int n) {
  if (n <= 32) return 32;
  if (n <= 64) return 64;
  const int w128 = (n + 127) / 128 * 128 - n;
  const int w64 = (n + 63) / 64 * 64 - n;
  return w128 <= w64 + n / 8 ? 128 : 64;
}

// Rows problems (forward, dx, fc): M large, BM = 128, BN by N, no reduction split.
template <class AOp, class BOp>
void gemm_rows(Context& ctx, GemmArgs g) {
  g.chunk = g.R;
  g.split_stride = 0;
  const int bn = pick_tile(g.N);
  const bool tc = ctx.math != MathMode::FP32 && g.N >= 16 && g.R >= 16;
  if (tc && ctx.math == MathMode::TF32) {
    if (bn == 32) launch<TcCfg<Kind::Tf32, 128, 32, 32, 16>, AOp, BOp>(ctx, g, 1);
    else if (bn == 64) launch<TcCfg<Kind::Tf32, 128, 64, 32, 32>, AOp, BOp>(ctx, g, 1);
    else launch<TcCfg<Kind::Tf32, 128, 128, 64, 32>, AOp, BOp>(ctx, g, 1);
  } else if (tc) {
    if (bn == 32) launch<TcCfg<Kind::Bf16, 128, 32, 32, 16>, AOp, BOp>(ctx, g, 1);
    else if (bn == 64) launch<TcCfg<Kind::Bf16, 128, 64, 32, 32>, AOp, BOp>(ctx, g, 1);
    else launch<TcCfg<Kind::Bf16, 128, 128, 64, 32>, AOp, BOp>(ctx, g, 1);
  } else {
    if (bn == 32) launch<SimtCfg<128, 32, 4, 4>, AOp, BOp>(ctx, g, 1);
    else if (bn == 64) launch<SimtCfg<128, 64, 8, 4>, AOp, BOp>(ctx, g, 1);
    else launch<SimtCfg<128, 128, 8, 8>, AOp, BOp>(ctx, g, 1);
  }
  static_assert(kRowsBM == 128, "every rows config has BM = 128 (the statistics partials count on it)");
}

template <class AOp, class BOp>
void launch_any(Context& ctx, const GemmArgs& g, int bm, int bn, int splits) {
  const bool tc = ctx.math != MathMode::FP32 && bm >= 64 && bn >= 64;
  const int key = bm * 1000 + bn;
  if (tc && ctx.math == MathMode::TF32) {
    switch (key) {
      case 128128: launch<TcCfg<Kind::Tf32, 128, 128, 64, 32>, AOp, BOp>(ctx, g, splits); return;
      case 128064: launch<TcCfg<Kind::Tf32, 128, 64, 32, 32>, AOp, BOp>(ctx, g, splits); return;
      case 64128: launch<TcCfg<Kind::Tf32, 64, 128, 32, 32>, AOp, BOp>(ctx, g, splits); return;
      default: launch<TcCfg<Kind::Tf32, 64, 64, 32, 32>, AOp, BOp>(ctx, g, splits); return;
    }
  }
  if (tc) {
    switch (key) {
      case 128128: launch<TcCfg<Kind::Bf16, 128, 128, 64, 32>, AOp, BOp>(ctx, g, splits); return;
      case 128064: launch<TcCfg<Kind::Bf16, 128, 64, 32, 32>, AOp, BOp>(ctx, g, splits); return;
      case 64128: launch<TcCfg<Kind::Bf16, 64, 128, 32, 32>, AOp, BOp>(ctx, g, splits); return;
      default: launch<TcCfg<Kind::Bf16, 64, 64, 32, 32>, AOp, BOp>(ctx, g, splits); return;
    }
  }
  switch (key) {
    case 128128: launch<SimtCfg<128, 128, 8, 8>, AOp, BOp>(ctx, g, splits); return;
    case 128064: launch<SimtCfg<128, 64, 8, 4>, AOp, BOp>(ctx, g, splits); return;
    case 128032: launch<SimtCfg<128, 32, 4, 4>, AOp, BOp>(ctx, g, splits); return;
    case 64128: launch<SimtCfg<64, 128, 4, 8>, AOp, BOp>(ctx, g, splits); return;
    case 64064: launch<SimtCfg<64, 64, 4, 4>, AOp, BOp>(ctx, g, splits); return;
    case 64032: launch<SimtCfg<64, 32, 4, 4>, AOp, BOp>(ctx, g, splits); return;
    case 32128: launch<SimtCfg<32, 128, 4, 4>, AOp, BOp>(ctx, g, splits); return;
    case 32064: launch<SimtCfg<32, 64, 4, 4>, AOp, BOp>(ctx, g, splits); return;
    default: launch<SimtCfg<32, 32, 4, 4>, AOp, BOp>(ctx, g, splits); return;
  }
}

// Weight-gradient problems: out[M][N] = sum over the `rows` reduction rows of a ColOp A and a ColOp
// B, split into chunks of at most kMaxChunk rows whose partials are summed in a fixed order.
// `out` is overwritten (zeros when rows == 0).
template <class BOp>
void gemm_wgrad(Context& ctx, float* out, const Operand& a, const Operand& b, int M, int N, int rows) {
  const int64_t MN = int64_t(M) * N;
  if (MN == 0) return;
  if (rows == 0) {
    zero(ctx, out, MN);
    return;
  }
  const int bm = pick_tile(M), bn = pick_tile(N);
  const int64_t tiles = int64_t((M + bm - 1) / bm) * ((N + bn - 1) / bn);
  int64_t splits = (kSplitTargetBlocks + tiles - 1) / tiles;
  int64_t chunk = (rows + splits - 1) / splits;
  if (chunk > kMaxChunk) chunk = kMaxChunk;
  const int64_t min_chunk = (int64_t(rows) + 65534) / 65535;  // gridDim.z <= 65535
  if (chunk < min_chunk) chunk = min_chunk;
  chunk = (chunk + 31) / 32 * 32;  // whole reduction tiles (BK = 16) of 4-aligned rows
  splits = (rows + chunk - 1) / chunk;

  GemmArgs g;
  g.a = a;
  g.b = b;
  g.M = M;
  g.N = N;
  g.R = rows;
  g.chunk = int(chunk);
  g.ldo = N;
  if (splits == 1) {
    g.out = out;
    g.split_stride = 0;
    g.out_vec = aligned16(out) && N % 4 == 0;
    launch_any<ColOp<kDirect>, BOp>(ctx, g, bm, bn, 1);
    return;
  }
  ScratchBuffer part(ctx, splits * MN);
  g.out = part.data();
  g.split_stride = MN;
  g.out_vec = aligned16(part.data()) && N % 4 == 0 && MN % 4 == 0;
  launch_any<ColOp<kDirect>, BOp>(ctx, g, bm, bn, int(splits));
  const int64_t rblocks = (MN + 31) / 32;
  if (rblocks > INT_MAX) throw std::invalid_argument("dense: weight gradient too large");
  GNAS_LAUNCH(split_reduce_kernel, dim3(unsigned(rblocks)), dim3(32, reduce_rows_for(splits)), 0, ctx.stream, out,
              part.data(), int(splits), MN);
  GNAS_CUDA_LAUNCHED("dense split_reduce_kernel");
}

}  // namespace dense_detail

using namespace dense_detail;

void conv_forward(Context& ctx, float* y, float* out_mean, float* out_invstd, float eps, const float* x,
                  const BnAct* in_bn, const float* w, const ConvShape& s) {
  check_shape(s);
  const int M = to_int(int64_t(s.N) * s.P * s.Q, "N*P*Q");
  const int R = to_int(int64_t(s.k) * s.k * s.C, "k*k*C");
  if (s.K == 0) return;
  if (M == 0) {
    if (out_mean) {  // no rows: mean 0, variance 0
      GNAS_LAUNCH(stats_finalize_kernel, dim3(ceil_div(s.K, 32)), dim3(32, 1), 0, ctx.stream, out_mean, out_invstd,
                  static_cast<const double*>(nullptr), static_cast<const double*>(nullptr), 0, s.K, int64_t(0), eps);
      GNAS_CUDA_LAUNCHED("dense stats_finalize_kernel");
    }
    return;
  }

  GemmArgs g;
  g.a = conv_input(x, s, M, R);
  std::optional<ScratchBuffer> fold;  // scale[C], shift[C]
  if (in_bn && s.C > 0) {
    fold.emplace(ctx, 2 * int64_t(s.C));
    GNAS_LAUNCH(bn_fold_kernel, dim3(ceil_div(s.C, 256)), dim3(256), 0, ctx.stream, fold->data(),
                fold->data() + s.C, in_bn->mean, in_bn->invstd, in_bn->gamma, in_bn->beta, s.C);
    GNAS_CUDA_LAUNCHED("dense bn_fold_kernel");
    g.a.scale = fold->data();
    g.a.shift = fold->data() + s.C;
    g.a.act = int(in_bn->act);
  }
  g.b = direct(w, s.K, R, R);
  g.M = M;
  g.N = s.K;
  g.R = R;
  g.out = y;
  g.ldo = s.K;
  g.out_vec = aligned16(y) && s.K % 4 == 0;

  const int parts = ceil_div(M, kRowsBM);
  std::optional<ScratchBuffer> stats;  // psum, psq: parts x K doubles each
  if (out_mean) {
    stats.emplace(ctx, 4 * int64_t(parts) * s.K);
    g.psum = stats->as_double();
    g.psq = stats->as_double() + int64_t(parts) * s.K;
  }
  if (is_1x1_s1(s)) gemm_rows<RowOp<kDirect>, RowOp<kDirect>>(ctx, g);
  else gemm_rows<RowOp<kConv>, RowOp<kDirect>>(ctx, g);

  if (out_mean) {
    GNAS_LAUNCH(stats_finalize_kernel, dim3(ceil_div(s.K, 32)), dim3(32, reduce_rows_for(parts)), 0, ctx.stream,
                out_mean, out_invstd,
                static_cast<const double*>(g.psum), static_cast<const double*>(g.psq), parts, s.K, int64_t(M), eps);
    GNAS_CUDA_LAUNCHED("dense stats_finalize_kernel");
  }
}

void conv_backward(Context& ctx, float* dx, float* dw, const float* dy, const float* x, const float* w,
                   const ConvShape& s) {
  check_shape(s);
  const int M = to_int(int64_t(s.N) * s.P * s.Q, "N*P*Q");
  const int R = to_int(int64_t(s.k) * s.k * s.C, "k*k*C");
  const int64_t in_size = int64_t(s.N) * s.H * s.W * s.C;

  // dw[K][R] = sum over the M pixels of dy[m][o] * A[m][r].
  if (dw) {
    const Operand dy_cols = direct(dy, M, s.K, s.K);
    if (is_1x1_s1(s)) gemm_wgrad<ColOp<kDirect>>(ctx, dw, dy_cols, direct(x, M, s.C, s.C), s.K, R, M);
    else gemm_wgrad<ColOp<kConv>>(ctx, dw, dy_cols, conv_input(x, s, M, R), s.K, R, M);
  }

  if (!dx || in_size == 0) return;
  if (M == 0 || s.K == 0) {
    zero(ctx, dx, in_size);
    return;
  }
  if (s.k == 1 && s.pad == 0) {
    // dx rows = dy[M][K] . w[K][C]; a strided 1x1 writes only the sampled input pixels.
    GemmArgs g;
    g.a = direct(dy, M, s.K, s.K);
    g.b = direct(w, s.K, s.C, s.C);
    g.M = M;
    g.N = s.C;
    g.R = s.K;
    g.out = dx;
    g.ldo = s.C;
    g.out_vec = aligned16(dx) && s.C % 4 == 0;
    if (s.stride != 1) {
      zero(ctx, dx, in_size);
      g.scatter = 1;
      g.sP = s.P;
      g.sQ = s.Q;
      g.sH = s.H;
      g.sW = s.W;
      g.sS = s.stride;
    }
    gemm_rows<RowOp<kDirect>, ColOp<kDirect>>(ctx, g);
    return;
  }
  GNAS_LAUNCH(conv_dx_direct_kernel, dim3(grid_1d(in_size, 256)), dim3(256), 0, ctx.stream, dx, dy, w, s);
  GNAS_CUDA_LAUNCHED("dense conv_dx_direct_kernel");
}

void fc_forward(Context& ctx, float* y, const float* x, const float* w, const float* b, int N, int C, int K) {
  if (N < 0 || C < 0 || K < 0) throw std::invalid_argument("fc_forward: negative size");
  if (N == 0 || K == 0) return;
  GemmArgs g;
  g.a = direct(x, N, C, C);
  g.b = direct(w, K, C, C);
  g.M = N;
  g.N = K;
  g.R = C;
  g.out = y;
  g.ldo = K;
  g.out_vec = aligned16(y) && K % 4 == 0;
  g.bias = b;
  gemm_rows<RowOp<kDirect>, RowOp<kDirect>>(ctx, g);
}

void fc_backward(Context& ctx, float* dx, float* dw, float* db, const float* dy, const float* x, const float* w,
                 int N, int C, int K) {
  if (N < 0 || C < 0 || K < 0) throw std::invalid_argument("fc_backward: negative size");
  if (db && K > 0) {
    GNAS_LAUNCH(colsum_kernel, dim3(ceil_div(K, 128)), dim3(128), 0, ctx.stream, db, dy, N, K);
    GNAS_CUDA_LAUNCHED("dense colsum_kernel");
  }
  // dw[K][C] = sum_n dy[n][k] * x[n][c]
  if (dw) gemm_wgrad<ColOp<kDirect>>(ctx, dw, direct(dy, N, K, K), direct(x, N, C, C), K, C, N);
  if (!dx || int64_t(N) * C == 0) return;
  if (K == 0) {
    zero(ctx, dx, int64_t(N) * C);
    return;
  }
  GemmArgs g;
  g.a = direct(dy, N, K, K);
  g.b = direct(w, K, C, C);
  g.M = N;
  g.N = C;
  g.R = K;
  g.out = dx;
  g.ldo = C;
  g.out_vec = aligned16(dx) && C % 4 == 0;
  gemm_rows<RowOp<kDirect>, ColOp<kDirect>>(ctx, g);
}

}  // namespace cuda
}  // namespace gnas
