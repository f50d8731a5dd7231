// Fully connected layer y[N][K] = x[N][C] . w[K][C]^T + b[K] and its backward: the same GEMM
// drivers as a 1x1 conv over N rows (conv_dense.h), plus the bias.
#pragma once

namespace gnas {
namespace cpu {
namespace GNAS_ISA {

static void fc_forward(Ctx& ctx, float* y, const float* x, const float* w, const float* b, int N, int C, int K) {
  conv1x1_forward(ctx, y, x, w, N, C, K, nullptr, nullptr, nullptr, 0.0f);
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < K; ++o) y[int64_t(n) * K + o] += b[o];
}

static void fc_backward(Ctx& ctx, float* dx, float* dw, float* db, const float* dy, const float* x, const float* w,
                        int N, int C, int K) {
  conv1x1_backward(ctx, dx, dw, dy, x, w, N, C, K, nullptr);
  for (int o = 0; o < K; ++o) {
    double acc = 0;
    for (int n = 0; n < N; ++n) acc += double(dy[int64_t(n) * K + o]);
    db[o] = float(acc);
  }
}

}  // namespace GNAS_ISA
}  // namespace cpu
}  // namespace gnas
