// Internal to the CUDA backend: the launcher of every op, grouped by the .cu file that implements
// it (one file per op, the stems of backends/cpu/). Pointers are device memory; semantics are those
// of the Backend method of the same name (core/backend.h) and of backends/reference/reference_ops.h.
// Every launcher queues its work on ctx.stream, checks each launch, returns immediately for empty
// sizes, and uses no floating-point atomics (reductions are fixed-order two-stage sums, so results
// are bit-identical run to run on one device). Device helpers shared by the kernel files are in
// kernel_helpers.cuh.
#pragma once
#include <cstdint>

#include "backends/cuda/cuda_common.cuh"

namespace gnas {
namespace cuda {

// ---- conv_dense.cu ----
// y = conv(in), where in = x, or act(bn(x)) applied while loading when in_bn != null (zero padding
// applies to the activated input). out_mean != null: also the batch statistics of y over its
// N*P*Q rows (mean[K], invstd[K] = 1/sqrt(biased var + eps)), from the GEMM epilogue.
void conv_forward(Context& ctx, float* y, float* out_mean, float* out_invstd, float eps, const float* x,
                  const BnAct* in_bn, const float* w, const ConvShape& s);
// dx (may be null) and dw of y = conv(x); plain (no fusion).
void conv_backward(Context& ctx, float* dx, float* dw, const float* dy, const float* x, const float* w,
                   const ConvShape& s);

// ---- fully_connected.cu ----
void fc_forward(Context& ctx, float* y, const float* x, const float* w, const float* b, int N, int C, int K);
void fc_backward(Context& ctx, float* dx, float* dw, float* db, const float* dy, const float* x, const float* w,
                 int N, int C, int K);

// ---- depthwise.cu ----
// y = dwconv(in) with in = x, or act(bn(x)) applied on load when in_bn != null (zero padding
// applies to the activated input).
void launch_dwconv_forward(Context& ctx, float* y, const float* x, const BnAct* in_bn, const float* w,
                           const ConvShape& s);
// dx may be null.
void launch_dwconv_backward(Context& ctx, float* dx, float* dw, const float* dy, const float* x, const float* w,
                            const ConvShape& s);

// ---- batchnorm.cu ----
// Batch statistics of x[M][C] only: mean[C], invstd[C] = 1/sqrt(biased var + eps) (as
// bn_act_forward_train writes them). Used by dwconv_forward_fused for its out_mean/out_invstd.
void launch_bn_stats(Context& ctx, float* mean, float* invstd, const float* x, float eps, int64_t M, int C);
void launch_bn_act_forward_train(Context& ctx, float* y, float* mean, float* invstd, const float* x,
                                 const float* gamma, const float* beta, float eps, Act act, int64_t M, int C);
void launch_bn_act_forward_eval(Context& ctx, float* y, const float* x, const float* gamma, const float* beta,
                                const float* running_mean, const float* running_var, float eps, Act act, int64_t M,
                                int C);
void launch_bn_act_apply(Context& ctx, float* y, const float* x, const float* mean, const float* invstd,
                         const float* gamma, const float* beta, Act act, int64_t M, int C);
// dx may be null (only dgamma / dbeta).
void launch_bn_act_backward(Context& ctx, float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                            const float* mean, const float* invstd, const float* gamma, const float* beta, Act act,
                            int64_t M, int C);
void launch_bn_update_running(Context& ctx, float* running_mean, float* running_var, const float* mean,
                              const float* invstd, float eps, float momentum, int64_t M, int C, float* nonfinite);

// ---- squeeze_excite.cu ----
void launch_se_forward(Context& ctx, float* y, float* pooled, float* hidden, float* gate, const float* x,
                       const float* w1, const float* b1, const float* w2, const float* b2, const SEShape& s);
// y = x * gate per image and channel (y may be x).
void launch_se_scale(Context& ctx, float* y, const float* x, const float* gate, const SEShape& s);
// dx may be null.
void launch_se_backward(Context& ctx, float* dx, float* dw1, float* db1, float* dw2, float* db2, const float* dy,
                        const float* x, const float* pooled, const float* hidden, const float* gate, const float* w1,
                        const float* w2, const SEShape& s);

// ---- softmax_xent.cu ----
// dlogits may be null.
void launch_softmax_xent(Context& ctx, float* loss, uint8_t* correct, float* dlogits, const float* logits,
                         const int32_t* labels, float smoothing, int N, int K);

// ---- pooling.cu ----
void launch_gap_forward(Context& ctx, float* y, const float* x, int N, int HW, int C);
void launch_gap_backward(Context& ctx, float* dx, const float* dy, int N, int HW, int C);
// Per-image column sums over x[N][HW][C] (GAP, SE pooling, SE backward), in double, fixed order:
//   s[n][c] = sum_i a[n][i][c]            (b == null)   or   sum_i a[n][i][c] * b[n][i][c]
// then out_mean[n][c] = float(s / HW) when out_mean != null, and out_sum[n][c] = s, or
// s * gate (1 - gate) with gate[n][c] when gate != null (the SE gate logit's gradient), when
// out_sum != null.
void launch_image_colsum(Context& ctx, float* out_mean, double* out_sum, const float* a, const float* b,
                         const float* gate, int N, int HW, int C);

// ---- normalize.cu ----
void launch_normalize_u8(Context& ctx, float* x, const uint8_t* src, const float* mean, const float* std, int64_t M,
                         int C);
void launch_normalize_f32(Context& ctx, float* x, const float* src, const float* mean, const float* std, int64_t M,
                          int C);

// ---- elementwise.cu ----
void launch_fill(Context& ctx, float* x, float value, int64_t n);
void launch_add_inplace(Context& ctx, float* y, const float* x, int64_t n);
void launch_sgd_update(Context& ctx, float* w, float* velocity, const float* g, int64_t n, float lr, float momentum,
                       float weight_decay, bool nesterov, float* nonfinite);

}  // namespace cuda
}  // namespace gnas
