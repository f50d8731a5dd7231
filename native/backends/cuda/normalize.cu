// Input normalisation of the CUDA backend: x = (src / 255 - mean[c]) / std[c] for uint8 images,
// (src - mean[c]) / std[c] for float ones, in double as the reference; a grid-stride loop with
// 64-bit indices.
#include "backends/cuda/kernel_helpers.cuh"
#include "backends/cuda/launchers.h"

namespace gnas {
namespace cuda {
namespace {

// ---- input normalisation over x[M][C] (C is tiny: 1 or 3): channel tracked incrementally ----
template <typename S>
__device__ __forceinline__ double norm_src(S v);
template <>
__device__ __forceinline__ double norm_src<uint8_t>(uint8_t v) { return double(v) / 255.0; }
template <>
__device__ __forceinline__ double norm_src<float>(float v) { return double(v); }

template <typename S>
__global__ void normalize_kernel(float* __restrict__ x, const S* __restrict__ src, const float* __restrict__ mean,
                                 const float* __restrict__ stdv, int64_t n, int C) {
  int64_t i = gtid();
  const int64_t stride = gstride();
  int c = int(i % C);
  const int cstep = int(stride % C);
  for (; i < n; i += stride) {
    x[i] = float((norm_src<S>(src[i]) - double(mean[c])) / double(stdv[c]));
    c += cstep;
    if (c >= C) c -= C;
  }
}

}  // namespace

void launch_normalize_u8(Context& ctx, float* x, const uint8_t* src, const float* mean, const float* std, int64_t M,
                         int C) {
  if (M <= 0 || C <= 0) return;
  const int64_t n = M * C;
  launch(normalize_kernel<uint8_t>, flat_blocks(ctx, n), kThreads, 0, ctx.stream, x, src, mean, std, n, C);
  GNAS_CUDA_LAUNCHED("normalize_kernel<u8>");
}

void launch_normalize_f32(Context& ctx, float* x, const float* src, const float* mean, const float* std, int64_t M,
                          int C) {
  if (M <= 0 || C <= 0) return;
  const int64_t n = M * C;
  launch(normalize_kernel<float>, flat_blocks(ctx, n), kThreads, 0, ctx.stream, x, src, mean, std, n, C);
  GNAS_CUDA_LAUNCHED("normalize_kernel<f32>");
}

}  // namespace cuda
}  // namespace gnas
