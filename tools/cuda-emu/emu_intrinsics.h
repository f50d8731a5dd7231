// Device built-ins for kernel code: thread and block indices, barriers, warp shuffles and the
// fast math intrinsics.
#pragma once
#include <cmath>

#include "emu_threads.h"

// Read-only names of the running thread's indices (references, not macros: cudaLaunchConfig_t
// has fields named gridDim and blockDim).
inline constexpr const uint3& threadIdx = ::emu::g_tid;
inline constexpr const uint3& blockIdx = ::emu::g_bid;
inline constexpr const dim3& blockDim = ::emu::g_bdim;
inline constexpr const dim3& gridDim = ::emu::g_gdim;
constexpr int warpSize = 32;
inline void __syncthreads() { ::emu::syncthreads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) {
  ::emu::WarpSlot& W = ::emu::warp_enter(mask, "__syncwarp", 2);
  (void)::emu::warp_barrier(W, 0);
}
template <class T>
inline T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
  if (width != 32) ::emu::fatal("__shfl_sync width %d unsupported", width);
  return ::emu::shfl_impl<T>(mask, v, 0, src, "__shfl_sync");
}
template <class T>
inline T __shfl_down_sync(unsigned mask, T v, unsigned d, int width = 32) {
  if (width != 32) ::emu::fatal("__shfl_down_sync width %d unsupported", width);
  return ::emu::shfl_impl<T>(mask, v, 1, int(d), "__shfl_down_sync");
}
template <class T>
inline T __shfl_up_sync(unsigned mask, T v, unsigned d, int width = 32) {
  if (width != 32) ::emu::fatal("__shfl_up_sync width %d unsupported", width);
  return ::emu::shfl_impl<T>(mask, v, 2, int(d), "__shfl_up_sync");
}
template <class T>
inline T __shfl_xor_sync(unsigned mask, T v, int lm, int width = 32) {
  if (width != 32) ::emu::fatal("__shfl_xor_sync width %d unsupported", width);
  return ::emu::shfl_impl<T>(mask, v, 3, lm, "__shfl_xor_sync");
}
template <class T>
inline T __ldg(const T* p) { return *p; }
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __saturatef(float x) { return x < 0.f ? 0.f : (x > 1.f ? 1.f : x); }
