// Dense convolutions and the fully connected layer on the GPU (conv_dense.cu, fully_connected.cu),
// on the GEMM core of gemm.cuh. Every dense op is one or two launches of that core plus a small
// fixed-order reduction:
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
//
// This header holds what both dense ops use: the GEMM drivers (implemented in dense_gemm.cu, which
// instantiates every GEMM kernel configuration once) and small host and device helpers.
#pragma once
#include <climits>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "backends/cuda/gemm.cuh"
#include "backends/cuda/kernel_helpers.cuh"

namespace gnas {
namespace cuda {
namespace dense_detail {

using gemm::ColOp;
using gemm::GemmArgs;
using gemm::kConv;
using gemm::kDirect;
using gemm::Operand;
using gemm::RowOp;

constexpr int kRowsBM = 128;  // row tile of the rows problems (forward, dx, fc)

// Fixed-order column sums of a [parts][n] array, shared by the two reductions
// (split_reduce_kernel, stats_finalize_kernel). Block
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

inline int reduce_rows_for(int64_t parts) { return parts >= 128 ? 32 : (parts >= 16 ? 8 : 1); }

// Row and column counts stay below INT_MAX - 256 so that tile origins + offsets fit an int.
inline int to_int(int64_t v, const char* what) {
  if (v < 0 || v > INT_MAX - 256) throw std::invalid_argument(std::string("dense: ") + what + " out of range");
  return int(v);
}

inline void zero(Context& ctx, float* p, int64_t n) {
  if (n > 0) GNAS_CUDA_CHECK(cudaMemsetAsync(p, 0, size_t(n) * sizeof(float), ctx.stream));
}

inline Operand direct(const float* p, int rows, int cols, int64_t ld) {
  Operand op;
  op.p = p;
  op.rows = rows;
  op.cols = cols;
  op.ld = ld;
  op.vec = aligned16(p) && ld % 4 == 0;
  return op;
}

// Rows problems (forward, dx, fc): M large, BM = 128, BN by N, no reduction split.
template <class AOp, class BOp>
void gemm_rows(Context& ctx, GemmArgs g);

// Weight-gradient problems: out[M][N] = sum over the `rows` reduction rows of a ColOp A and a ColOp
// B, split into chunks of at most kMaxChunk rows whose partials are summed in a fixed order.
// `out` is overwritten (zeros when rows == 0).
template <class BOp>
void gemm_wgrad(Context& ctx, float* out, const Operand& a, const Operand& b, int M, int N, int rows);

}  // namespace dense_detail
}  // namespace cuda
}  // namespace gnas
