// The fully connected layer (classifier) on the GPU: forward = the 1x1 forward GEMM with a bias
// epilogue; backward = the dx and dw GEMMs of dense_gemm.cuh with the N images as the rows, and db
// by colsum_kernel (double, fixed order).
#include "backends/cuda/dense_gemm.cuh"
#include "backends/cuda/launchers.h"

namespace gnas {
namespace cuda {
namespace dense_detail {
namespace {

// db[k] = sum_n dy[n][k] in double, in order.
__global__ void colsum_kernel(float* db, const float* dy, int N, int K) {
  const int k = int(blockIdx.x) * int(blockDim.x) + int(threadIdx.x);
  if (k >= K) return;
  double acc = 0.0;
  for (int n = 0; n < N; ++n) acc += double(dy[int64_t(n) * K + k]);
  db[k] = float(acc);
}

}  // namespace
}  // namespace dense_detail

using namespace dense_detail;

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
    launch(colsum_kernel, dim3(ceil_div(K, 128)), dim3(128), 0, ctx.stream, db, dy, N, K);
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
