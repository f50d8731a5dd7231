// Device and host helpers shared by the kernel files of the CUDA backend (not by the backend
// class): block sizes of flat kernels, grid-stride indices, alignment, finiteness, warp sums, and
// the activations with the conventions of reference_ops.h.
#pragma once
#include <cstdint>

#include "backends/cuda/cuda_common.cuh"

namespace gnas {
namespace cuda {

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

// Runs the statements with kA, a constexpr Act, equal to the runtime activation a (one kernel
// instantiation per activation; an out-of-range value runs as Act::None).
#define GNAS_ACT_DISPATCH(a, ...)                                  \
  switch (a) {                                                     \
    case Act::ReLU: { constexpr Act kA = Act::ReLU; __VA_ARGS__; } break;     \
    case Act::ReLU6: { constexpr Act kA = Act::ReLU6; __VA_ARGS__; } break;   \
    case Act::HSwish: { constexpr Act kA = Act::HSwish; __VA_ARGS__; } break; \
    default: { constexpr Act kA = Act::None; __VA_ARGS__; } break;            \
  }

// Grid-stride position of this thread.
__device__ __forceinline__ int64_t gtid() { return int64_t(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ __forceinline__ int64_t gstride() { return int64_t(gridDim.x) * blockDim.x; }

// inf and NaN fail the comparison; plain float ops, so the CPU emulator compiles it unchanged.
__device__ __forceinline__ bool finite_value(float x) { return fabsf(x) <= 3.402823466e+38f; }

// ---- one warp per item (SE's small FC layers, softmax rows) ----
constexpr int kWarpsPerBlock = kThreads / 32;
inline unsigned warp_blocks(int64_t items) { return unsigned((items + kWarpsPerBlock - 1) / kWarpsPerBlock); }

// Sum over the warp; the result is valid in lane 0 only (fixed tree, deterministic).
__device__ __forceinline__ double warp_sum_lane0(double v) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
  return v;
}
// Sum over the warp, the same value in every lane (lane 0's, broadcast).
__device__ __forceinline__ double warp_sum_all(double v) {
  return __shfl_sync(0xffffffffu, warp_sum_lane0(v), 0);
}

}  // namespace cuda
}  // namespace gnas
