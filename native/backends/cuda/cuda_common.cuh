// Shared by every CUDA source of the backend: the error type and check macros, and the launch
// Context each kernel launcher receives (device, stream, math mode, scratch memory).
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

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

}  // namespace cuda
}  // namespace gnas
