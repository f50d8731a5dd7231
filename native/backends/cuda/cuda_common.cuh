// Shared by every CUDA source of the backend: the error type and check macros, the launch Context
// each kernel launcher receives (device, stream, math mode, scratch memory), and the two seams
// between the kernels and the compiler that builds them: launch() and dynamic_smem().
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

#include "backends/cuda/cuda_backend.h"
#include "core/backend.h"

namespace gnas {
namespace cuda {

// A failed CUDA call. what() is "<cudaGetErrorName>: <cudaGetErrorString> (<where>)", e.g.
// "cudaErrorMemoryAllocation: out of memory (cudaMallocAsync of 1.5 GiB on device 0)"; the binding
// turns it into a JS Error whose message starts with the CUDA error name.
class CudaError : public DeviceError {
 public:
  CudaError(cudaError_t code, const std::string& where);
  cudaError_t code() const { return code_; }

 private:
  cudaError_t code_;
};

// Throws CudaError when e != cudaSuccess.
void check(cudaError_t e, const char* where);
#define GNAS_CUDA_CHECK(expr) ::gnas::cuda::check((expr), #expr)
// After a kernel launch: catches bad launch configurations (asynchronous faults surface at the
// next synchronising call, which is checked too).
#define GNAS_CUDA_LAUNCHED(kernel_name) ::gnas::cuda::check(cudaGetLastError(), kernel_name)

// What a kernel launcher needs. Owned by the backend; one per device.
class Context {
 public:
  virtual ~Context() = default;
  int device = 0;
  cudaStream_t stream = nullptr;
  MathMode math = MathMode::FP32;
  int sm_count = 1;
  // Stream-ordered scratch from the backend's pool; released memory may be reused by later work
  // on the same stream, so no synchronisation is needed.
  virtual void* scratch_alloc(size_t bytes) = 0;
  virtual void scratch_release(void* p) = 0;
};

// Scratch floats for the life of a scope.
class ScratchBuffer {
 public:
  ScratchBuffer(Context& ctx, int64_t n) : ctx_(ctx) {
    p_ = static_cast<float*>(ctx.scratch_alloc(size_t(n > 0 ? n : 1) * sizeof(float)));
  }
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  ~ScratchBuffer() { ctx_.scratch_release(p_); }
  float* data() const { return p_; }
  double* as_double() const { return reinterpret_cast<double*>(p_); }

 private:
  Context& ctx_;
  float* p_ = nullptr;
};

inline int ceil_div(int64_t a, int64_t b) { return int((a + b - 1) / b); }

// ---- the launch seam ----
// Every kernel of the backend starts here: launch(kernel, grid, block, smem, stream, args...) is
// kernel<<<grid, block, smem, stream>>>(args...) under nvcc. A host C++ compiler has no <<<>>>;
// there the same launch goes through cudaLaunchKernelEx, the runtime's typed launch call, which is
// what the CUDA emulator (tools/cuda-emu/, the kernels run on the CPU for testing) implements. The
// launch is checked by GNAS_CUDA_LAUNCHED after it, as before.
template <class... Params, class... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream, Args&&... args) {
#ifdef __CUDACC__
  kernel<<<grid, block, smem, stream>>>(std::forward<Args>(args)...);
#else
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  (void)cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);  // errors: cudaGetLastError
#endif
}

// The running block's dynamic shared memory (the smem bytes of its launch), 128-byte aligned.
#ifdef __CUDACC__
__device__ __forceinline__ unsigned char* dynamic_smem() {
  extern __shared__ __align__(128) unsigned char gnas_dynamic_smem[];
  return gnas_dynamic_smem;
}
#else
// A host compiler has no shared memory: the runtime the kernels are built against (the emulator)
// defines this.
unsigned char* dynamic_smem();
#endif

}  // namespace cuda
}  // namespace gnas
