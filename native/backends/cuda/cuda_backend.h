// The CUDA backend (make_backend("cuda", ...) in backends/registry.h): the Backend interface on one
// GPU, with device memory from a stream-ordered pool, every op queued on the backend's own stream,
// and deterministic reductions (fixed-order two-stage sums, no float atomics), so a training run
// on one device is bit-reproducible like the CPU one.
//
// This header is plain C++ (no CUDA headers): backends/registry.cpp includes it.
//
// What lives in native/backends/cuda:
//   cuda_backend.h      this file: factory, device probe, math modes
//   cuda_common.cuh     CudaError, the check macros, the launch Context (stream, math, scratch),
//                       the launch seam launch() and dynamic_smem()
//   cuda_backend.cu     the Backend subclass: memory pool, copies, dispatch to the launchers
//   launchers.h         the launcher of every op, declared by the .cu file that implements it
//   kernel_helpers.cuh  device helpers shared by the kernel files (activations, warp sums, ...)
//   <op>.cu             one file per op, the stems of backends/cpu/: conv_dense, fully_connected,
//                       depthwise, batchnorm, squeeze_excite, softmax_xent, pooling, normalize,
//                       elementwise (fill, add, SGD)
//   dense_gemm.cuh/.cu  the GEMM drivers conv_dense and fully_connected share, on gemm.cuh: the
//                       GEMM kernel (FP32 SIMT or TF32/BF16 tensor cores, FP32 accumulation)
#pragma once
#include <memory>
#include <string>

#include "core/backend.h"

namespace gnas {
namespace cuda {

// GEMM arithmetic of the dense convs and the classifier. FP32 is exact float math (the mode the
// tests compare against the reference at float tolerances); TF32 and BF16 use tensor cores with
// FP32 accumulation. Every other op is FP32 in all modes.
enum class MathMode : int { FP32 = 0, TF32 = 1, BF16 = 2 };
// "fp32" | "tf32" | "bf16"; throws std::invalid_argument otherwise.
MathMode parse_math_mode(const std::string& s);
const char* math_mode_name(MathMode m);

struct DeviceProbe {
  int count = 0;       // usable devices (0 when there is no driver or no device)
  std::string detail;  // "1 device: NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)" or the reason for none
};
// Never throws: no driver / no device gives count 0 and the CUDA error name in detail.
DeviceProbe probe_devices();

// Throws gnas::cuda::CudaError (a std::runtime_error whose message starts with the CUDA error
// name) when the device cannot be used, std::invalid_argument for an ordinal out of range.
std::unique_ptr<Backend> make_cuda_backend(int device, MathMode math);

}  // namespace cuda
}  // namespace gnas
