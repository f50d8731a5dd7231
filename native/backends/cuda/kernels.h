// Internal to the CUDA backend: the launchers of every kernel except the dense conv / fc ones
// (dense.h), grouped by the .cu file that implements them, plus small device helpers shared by
// those files. Pointers are device memory; semantics are those of the Backend method of the same
// name (core/backend.h) and of backends/reference/reference_ops.h. Every launcher queues its work
// on ctx.stream, checks each launch, returns immediately for empty sizes, and uses no floating-point
// atomics (reductions are fixed-order two-stage sums, so results are bit-identical run to run on
// one device).
#pragma once
#include <cstdint>

#include "backends/cuda/cuda_common.cuh"

namespace gnas {
namespace cuda {

// ---- elementwise.cu ----
void launch_fill(Context& ctx, float* x, float value, int64_t n);
void launch_normalize_u8(Context& ctx, float* x, const uint8_t* src, const float* mean, const float* std, int64_t M,
                         int C);
void launch_normalize_f32(Context& ctx, float* x, const float* src, const float* mean, const float* std, int64_t M,
                          int C);
void launch_add_inplace(Context& ctx, float* y, const float* x, int64_t n);
void launch_sgd_update(Context& ctx, float* w, float* velocity, const float* g, int64_t n, float lr, float momentum,
                       float weight_decay, bool nesterov, float* nonfinite);
void launch_gap_forward(Context& ctx, float* y, const float* x, int N, int HW, int C);
void launch_gap_backward(Context& ctx, float* dx, const float* dy, int N, int HW, int C);
void launch_bn_update_running(Context& ctx, float* running_mean, float* running_var, const float* mean,
                              const float* invstd, float eps, float momentum, int64_t M, int C, float* nonfinite);
// Per-image column sums over x[N][HW][C] (GAP, SE pooling, SE backward), in double, fixed order:
//   s[n][c] = sum_i a[n][i][c]            (b == null)   or   sum_i a[n][i][c] * b[n][i][c]
// then out_mean[n][c] = float(s / HW) when out_mean != null, and out_sum[n][c] = s, or
// s * gate (1 - gate) with gate[n][c] when gate != null (the SE gate logit's gradient), when
// out_sum != null.
void launch_image_colsum(Context& ctx, float* out_mean, double* out_sum, const float* a, const float* b,
                         const float* gate, int N, int HW, int C);

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

// ---- depthwise.cu ----
// y = dwconv(in) with in = x, or act(bn(x)) applied on load when in_bn != null (zero padding
// applies to the activated input).
void launch_dwconv_forward(Context& ctx, float* y, const float* x, const BnAct* in_bn, const float* w,
                           const ConvShape& s);
// dx may be null.
void launch_dwconv_backward(Context& ctx, float* dx, float* dw, const float* dy, const float* x, const float* w,
                            const ConvShape& s);

// ---- se_softmax.cu ----
void launch_se_forward(Context& ctx, float* y, float* pooled, float* hidden, float* gate, const float* x,
                       const float* w1, const float* b1, const float* w2, const float* b2, const SEShape& s);
// dx may be null.
void launch_se_backward(Context& ctx, float* dx, float* dw1, float* db1, float* dw2, float* db2, const float* dy,
                        const float* x, const float* pooled, const float* hidden, const float* gate, const float* w1,
                        const float* w2, const SEShape& s);
// dlogits may be null.
void launch_softmax_xent(Context& ctx, float* loss, uint8_t* correct, float* dlogits, const float* logits,
                         const int32_t* labels, float smoothing, int N, int K);

// ---- helpers shared by the kernel files ----
constexpr int kThreads = 256;  // block size of the flat (elementwise) kernels

// Grid size of a grid-stride flat kernel over `work` items: enough blocks to fill the device
// (16 blocks of 256 threads per SM), never more than the work needs, never zero.
inline int flat_blocks(const Context& ctx, int64_t work) {
  const int64_t need = (work + kThreads - 1) / kThreads;
  const int64_t cap = int64_t(ctx.sm_count > 0 ? ctx.sm_count : 1) * 16;
  const int64_t b = need < cap ? need : cap;
  return int(b > 0 ? b : 1);
}

// True when p is 16-byte aligned (float4 loads / stores allowed).
inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

#ifdef __CUDACC__
// Activations in float, with the conventions of reference_ops.h (act_apply / act_grad).
template <Act A>
__device__ __forceinline__ float act_fwd(float z) {
  if (A == Act::ReLU) return z > 0.f ? z : 0.f;
  if (A == Act::ReLU6) return z <= 0.f ? 0.f : (z >= 6.f ? 6.f : z);
  if (A == Act::HSwish) {
    const float r6 = z + 3.f <= 0.f ? 0.f : (z + 3.f >= 6.f ? 6.f : z + 3.f);
    return z * r6 / 6.f;
  }
  return z;
}
// relu'(z) = [z > 0], relu6'(z) = [0 < z < 6], hswish'(z) = 0 (z <= -3), 1 (z >= 3), (2z + 3) / 6.
template <Act A>
__device__ __forceinline__ float act_grad(float z) {
  if (A == Act::ReLU) return z > 0.f ? 1.f : 0.f;
  if (A == Act::ReLU6) return (z > 0.f && z < 6.f) ? 1.f : 0.f;
  if (A == Act::HSwish) {
    if (z <= -3.f) return 0.f;
    if (z >= 3.f) return 1.f;
    return (2.f * z + 3.f) / 6.f;
  }
  return 1.f;
}
#endif

// Runs the statements with kA, a constexpr Act, equal to the runtime activation a (one kernel
// instantiation per activation; an out-of-range value runs as Act::None).
#define GNAS_ACT_DISPATCH(a, ...)                                  \
  switch (a) {                                                     \
    case Act::ReLU: { constexpr Act kA = Act::ReLU; __VA_ARGS__; } break;     \
    case Act::ReLU6: { constexpr Act kA = Act::ReLU6; __VA_ARGS__; } break;   \
    case Act::HSwish: { constexpr Act kA = Act::HSwish; __VA_ARGS__; } break; \
    default: { constexpr Act kA = Act::None; __VA_ARGS__; } break;            \
  }

}  // namespace cuda
}  // namespace gnas
