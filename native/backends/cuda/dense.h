// Dense convolutions and the fully connected layer on the GPU (implemented in dense.cu): the GEMM
// core (FP32 SIMT, or TF32 / BF16 tensor cores with FP32 accumulation, per ctx.math) and the
// launchers the backend calls. Pointers are device memory; semantics are those of the Backend
// methods of the same name (core/backend.h). Reductions over rows (dw, db, BN statistics) are
// deterministic: per-block partial sums, then a fixed-order final sum.
#pragma once
#include "backends/cuda/cuda_common.cuh"

namespace gnas {
namespace cuda {

// y = conv(in), where in = x, or act(bn(x)) applied while loading when in_bn != null (zero padding
// applies to the activated input). out_mean != null: also the batch statistics of y over its
// N*P*Q rows (mean[K], invstd[K] = 1/sqrt(biased var + eps)), from the GEMM epilogue.
void conv_forward(Context& ctx, float* y, float* out_mean, float* out_invstd, float eps, const float* x,
                  const BnAct* in_bn, const float* w, const ConvShape& s);
// dx (may be null) and dw of y = conv(x); plain (no fusion).
void conv_backward(Context& ctx, float* dx, float* dw, const float* dy, const float* x, const float* w,
                   const ConvShape& s);
void fc_forward(Context& ctx, float* y, const float* x, const float* w, const float* b, int N, int C, int K);
void fc_backward(Context& ctx, float* dx, float* dw, float* db, const float* dy, const float* x, const float* w,
                 int N, int C, int K);

}  // namespace cuda
}  // namespace gnas
