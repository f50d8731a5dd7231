// Host emulation of the CUDA runtime + device model, for running the greedynas CUDA backend on a
// CPU (no GPU). Blocks run one after another; the threads of a block are fibers (own x86-64 context
// switch), switched at __syncthreads, warp shuffles and __syncwarp. Device memory is mmap'd with
// guard pages. The backend's sources compile unchanged as C++ against these headers (CMake option
// GNAS_CUDA_EMU, which also turns on the backend's pool checks, GNAS_CUDA_POOL_CHECKS).
//
// What it checks (prints "EMU ERROR ..." / "EMU WARNING ..." on stderr and counts them):
//   launch configuration: block dims (x,y <= 1024, z <= 64, x*y*z <= 1024), grid dims (x <= 2^31-1,
//     y,z <= 65535, none 0), dynamic smem > 48 KiB without cudaFuncSetAttribute opt-in, > 227 KiB,
//     stream handle validity, use of the legacy default stream (0) while a non-blocking stream
//     exists (no ordering with it on a GPU)
//     -> the launch fails with cudaErrorInvalidConfiguration etc. (cudaGetLastError), like a GPU
//   pointer kernel arguments that are not inside a live device allocation (host or freed memory)
//   warp shuffles / __syncwarp: full mask only, full warps only (blockDim multiple of 32 at the
//     warp), all 32 lanes must arrive (an exited lane -> deadlock -> abort with a message)
//   __syncthreads reached by only part of the block (others exited): warning (UB), continues
//   device memory: poisoned with 0xFF (NaN) at cudaMalloc, guard pages after (and before) each
//     block (out-of-bounds -> SIGSEGV with the kernel, block and thread printed), freed blocks
//     stay PROT_NONE (use after free -> SIGSEGV); memcpy/memset ranges and directions checked
//   shared memory: dynamic and static (__shared__ -> a static in section emu_shared) poisoned with
//     0xFF at the start of every block
// Environment: EMU_SMS (multiProcessorCount, default 132), EMU_ORDER=reverse (run the threads of a
//   block in reverse order between barriers, to expose races), EMU_STATS=1 (per-kernel counts).
// The emulation is split by topic: emu_types.h (qualifiers, types), emu_state.h (state, errors,
// device memory records), emu_threads.h (fibers, block scheduler, warp operations), emu_launch.h
// (kernel launch, streams, faults), emu_intrinsics.h (indices, barriers, shuffles, math); this
// file is the runtime API the backend calls.
#pragma once
#include <sys/mman.h>

#include <cstdio>
#include <cstring>
#include <mutex>

#include "emu_intrinsics.h"
#include "emu_launch.h"

// ---------------- runtime API ----------------
inline const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorLaunchOutOfResources: return "cudaErrorLaunchOutOfResources";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
  }
  return "cudaErrorUnknown";
}
inline const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    default: return "emulated error";
  }
}
inline cudaError_t cudaGetLastError() {
  const cudaError_t e = ::emu::t_last;
  ::emu::t_last = cudaSuccess;
  return e;
}
inline cudaError_t cudaPeekAtLastError() { return ::emu::t_last; }
inline cudaError_t cudaGetDeviceCount(int* n) {
  *n = ::emu::env_int("EMU_DEVICES", 1);
  return cudaSuccess;
}
namespace emu {
inline thread_local int t_device = 0;
}
inline cudaError_t cudaSetDevice(int d) {
  int n = 0;
  cudaGetDeviceCount(&n);
  if (d < 0 || d >= n) return ::emu::set_error(cudaErrorInvalidDevice);
  ::emu::t_device = d;
  return cudaSuccess;
}
inline cudaError_t cudaGetDevice(int* d) {
  *d = ::emu::t_device;
  return cudaSuccess;
}
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int d) {
  int n = 0;
  cudaGetDeviceCount(&n);
  if (d < 0 || d >= n) return ::emu::set_error(cudaErrorInvalidDevice);
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "EMULATED H100 (CPU fibers)");
  p->totalGlobalMem = ::emu::g_mem_limit;
  p->sharedMemPerBlock = 48 * 1024;
  p->sharedMemPerBlockOptin = 227 * 1024;
  p->sharedMemPerMultiprocessor = 228 * 1024;
  p->regsPerBlock = 65536;
  p->warpSize = 32;
  p->maxThreadsPerBlock = 1024;
  p->maxThreadsDim[0] = 1024, p->maxThreadsDim[1] = 1024, p->maxThreadsDim[2] = 64;
  p->maxGridSize[0] = 2147483647, p->maxGridSize[1] = 65535, p->maxGridSize[2] = 65535;
  p->major = 9;
  p->minor = 0;
  p->multiProcessorCount = ::emu::sm_count();
  p->l2CacheSize = 50 << 20;
  return cudaSuccess;
}
inline cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr a, int d) {
  int n = 0;
  cudaGetDeviceCount(&n);
  if (d < 0 || d >= n) return ::emu::set_error(cudaErrorInvalidDevice);
  switch (a) {
    case cudaDevAttrMultiProcessorCount: *v = ::emu::sm_count(); break;
    case cudaDevAttrMaxThreadsPerBlock: *v = 1024; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *v = 48 * 1024; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *v = 227 * 1024; break;
    case cudaDevAttrComputeCapabilityMajor: *v = 9; break;
    case cudaDevAttrComputeCapabilityMinor: *v = 0; break;
    default: return ::emu::set_error(cudaErrorInvalidValue);
  }
  return cudaSuccess;
}
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned flags) {
  std::lock_guard<std::recursive_mutex> lock(::emu::g_mu);
  *s = reinterpret_cast<cudaStream_t>(new int(int(flags)));
  ::emu::g_streams.insert(*s);
  if (flags & cudaStreamNonBlocking) ::emu::g_nonblocking_streams++;
  return cudaSuccess;
}
inline cudaError_t cudaStreamCreate(cudaStream_t* s) { return cudaStreamCreateWithFlags(s, 0); }
inline cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  std::lock_guard<std::recursive_mutex> lock(::emu::g_mu);
  if (!::emu::check_stream(s, "cudaStreamSynchronize")) return ::emu::set_error(cudaErrorInvalidResourceHandle);
  return cudaSuccess;
}
inline cudaError_t cudaStreamDestroy(cudaStream_t s) {
  std::lock_guard<std::recursive_mutex> lock(::emu::g_mu);
  if (!::emu::g_streams.erase(s)) {
    ::emu::report(true, "cudaStreamDestroy of an unknown stream");
    return ::emu::set_error(cudaErrorInvalidResourceHandle);
  }
  int* f = reinterpret_cast<int*>(s);
  if (*f & cudaStreamNonBlocking) ::emu::g_nonblocking_streams--;
  delete f;
  return cudaSuccess;
}
inline cudaError_t cudaMalloc(void** p, size_t n) {
  std::lock_guard<std::recursive_mutex> lock(::emu::g_mu);
  using namespace ::emu;
  *p = nullptr;
  if (g_in_kernel) fatal("cudaMalloc inside a kernel");
  if (n == 0) n = 1;
  if (g_live_bytes + n > g_mem_limit) return set_error(cudaErrorMemoryAllocation);
  const size_t pg = 4096;
  const size_t pages = (n + 63 + pg - 1) / pg;
  const size_t maplen = (pages + 2) * pg;
  char* m = static_cast<char*>(mmap(nullptr, maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (m == MAP_FAILED) return set_error(cudaErrorMemoryAllocation);
  mprotect(m, pg, PROT_NONE);
  mprotect(m + (pages + 1) * pg, pg, PROT_NONE);
  char* end = m + (pages + 1) * pg;
  char* user = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(end) - n) & ~uintptr_t(63));
  memset(m + pg, 0xff, pages * pg);
  g_allocs[reinterpret_cast<uintptr_t>(user)] = Alloc{m, maplen, n, false};
  g_live_bytes += n;
  *p = user;
  return cudaSuccess;
}
inline cudaError_t cudaFree(void* p) {
  std::lock_guard<std::recursive_mutex> lock(::emu::g_mu);
  using namespace ::emu;
  if (!p) return cudaSuccess;
  auto it = g_allocs.find(reinterpret_cast<uintptr_t>(p));
  if (it == g_allocs.end() || it->second.freed) {
    report(true, "cudaFree(%p): %s", p, it == g_allocs.end() ? "not an allocation" : "double free");
    return set_error(cudaErrorInvalidValue);
  }
  it->second.freed = true;
  g_live_bytes -= it->second.size;
  mprotect(it->second.map, it->second.maplen, PROT_NONE);  // use after free faults
  g_quarantine_bytes += it->second.maplen;
  return cudaSuccess;
}
namespace emu {
inline bool check_range(const void* p, size_t n, bool want_device, const char* what, const char* which) {
  const Alloc* a = find_alloc(p, n);
  if (want_device) {
    if (!a || a->freed) {
      report(true, "%s: %s range [%p, +%zu) is not inside a live device allocation (%s)", what, which, p, n,
             describe_ptr(p).c_str());
      return false;
    }
  } else if (find_alloc(p, 0)) {
    report(true, "%s: %s %p is device memory but the copy kind says host", what, which, p);
    return false;
  }
  return true;
}
}  // namespace emu
inline cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, cudaMemcpyKind k, cudaStream_t s) {
  std::lock_guard<std::recursive_mutex> lock(::emu::g_mu);
  using namespace ::emu;
  if (g_in_kernel) fatal("cudaMemcpyAsync inside a kernel");
  if (!check_stream(s, "cudaMemcpyAsync")) return set_error(cudaErrorInvalidResourceHandle);
  if (n == 0) return cudaSuccess;
  const bool dd = k == cudaMemcpyDeviceToDevice || k == cudaMemcpyHostToDevice;
  const bool sd = k == cudaMemcpyDeviceToDevice || k == cudaMemcpyDeviceToHost;
  if (k == cudaMemcpyDefault || k == cudaMemcpyHostToHost) {
    report(true, "cudaMemcpyAsync kind %d", int(k));
  } else {
    if (!check_range(dst, n, dd, "cudaMemcpyAsync", "dst") || !check_range(src, n, sd, "cudaMemcpyAsync", "src"))
      return set_error(cudaErrorInvalidValue);
  }
  const uintptr_t d = reinterpret_cast<uintptr_t>(dst), sa = reinterpret_cast<uintptr_t>(src);
  if (d < sa + n && sa < d + n && dst != src) report(true, "cudaMemcpyAsync with overlapping ranges (UB)");
  memmove(dst, src, n);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpy(void* dst, const void* src, size_t n, cudaMemcpyKind k) {
  return cudaMemcpyAsync(dst, src, n, k, nullptr);
}
inline cudaError_t cudaMemsetAsync(void* p, int v, size_t n, cudaStream_t s) {
  std::lock_guard<std::recursive_mutex> lock(::emu::g_mu);
  using namespace ::emu;
  if (!check_stream(s, "cudaMemsetAsync")) return set_error(cudaErrorInvalidResourceHandle);
  if (n == 0) return cudaSuccess;
  if (!check_range(p, n, true, "cudaMemsetAsync", "dst")) return set_error(cudaErrorInvalidValue);
  memset(p, v, n);
  return cudaSuccess;
}
inline cudaError_t cudaMemset(void* p, int v, size_t n) { return cudaMemsetAsync(p, v, n, nullptr); }
template <class T>
cudaError_t cudaFuncSetAttribute(T* f, cudaFuncAttribute a, int v) {
  std::lock_guard<std::recursive_mutex> lock(::emu::g_mu);
  if (a == cudaFuncAttributeMaxDynamicSharedMemorySize) {
    if (v < 0 || v > 227 * 1024) return ::emu::set_error(cudaErrorInvalidValue);
    ::emu::g_attr[reinterpret_cast<const void*>(f)] = v;
  }
  return cudaSuccess;
}
