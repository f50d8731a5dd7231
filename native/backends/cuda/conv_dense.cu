// Dense convolutions on the GPU, forward (with the fused input BN and output statistics) and
// backward, on the GEMM drivers of dense_gemm.cuh (whose header describes the method).
#include <optional>

#include "backends/cuda/dense_gemm.cuh"
#include "backends/cuda/launchers.h"

namespace gnas {
namespace cuda {
namespace dense_detail {
namespace {

// scale = gamma * invstd, shift = beta - mean * scale (the CPU backend's folding).
__global__ void bn_fold_kernel(float* scale, float* shift, const float* mean, const float* invstd,
                               const float* gamma, const float* beta, int C) {
  const int c = int(blockIdx.x) * int(blockDim.x) + int(threadIdx.x);
  if (c >= C) return;
  const float sc = gamma[c] * invstd[c];
  scale[c] = sc;
  shift[c] = beta[c] - mean[c] * sc;
}

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

int grid_1d(int64_t n, int threads) {
  const int64_t b = (n + threads - 1) / threads;
  return int(b < 1 ? 1 : (b > 8192 ? 8192 : b));
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

}  // namespace
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
      launch(stats_finalize_kernel, dim3(ceil_div(s.K, 32)), dim3(32, 1), 0, ctx.stream, out_mean, out_invstd,
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
    launch(bn_fold_kernel, dim3(ceil_div(s.C, 256)), dim3(256), 0, ctx.stream, fold->data(), fold->data() + s.C,
        in_bn->mean, in_bn->invstd, in_bn->gamma, in_bn->beta, s.C);
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
    launch(stats_finalize_kernel, dim3(ceil_div(s.K, 32)), dim3(32, reduce_rows_for(parts)), 0, ctx.stream, out_mean,
        out_invstd, static_cast<const double*>(g.psum), static_cast<const double*>(g.psq), parts, s.K, int64_t(M), eps);
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
  launch(conv_dx_direct_kernel, dim3(grid_1d(in_size, 256)), dim3(256), 0, ctx.stream, dx, dy, w, s);
  GNAS_CUDA_LAUNCHED("dense conv_dx_direct_kernel");
}

}  // namespace cuda
}  // namespace gnas
