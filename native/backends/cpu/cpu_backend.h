// The fast CPU backend (make_backend("cpu", ...) in backends/registry.h): SIMD kernels chosen at run time
// for the CPU (AVX-512, AVX2+FMA or baseline x86-64 SSE2) and a persistent thread pool.
//
// What lives in native/backends/cpu:
//   cpu_backend.cpp    the Backend subclass: picks a KernelTable once, forwards every op to it,
//                      optional per-op profile (GNAS_CPU_PROFILE=1)
//   kernels.h          the KernelTable (one entry per op) and the Ctx the kernels run in
//   kernels_avx512.cpp / kernels_avx2.cpp / kernels_generic.cpp
//                      the same kernel sources compiled three times (kernel_table.h)
//   simd.h             the vector vocabulary the kernels are written in, per ISA
//   gemm.h             register-blocked GEMM micro-kernel, weight packing, block drivers
//   conv_dense.h       dense conv (1x1 via GEMM, others via im2col + GEMM), fused BN in/out
//   conv_stem.h        direct kernels for the stem (3x3 conv over 1 or 3 channels)
//   depthwise.h        depthwise kxk conv forward (fused BN in, statistics out), padded planes
//   depthwise_backward.h  depthwise kxk conv backward, fused BN in/out
//   batchnorm.h        BN + activation forward (train / eval / apply) and backward
//   squeeze_excite.h, pooling.h (GAP), fully_connected.h, softmax_xent.h, elementwise.h
//                      (add_inplace, sgd_update), normalize.h (input normalisation)
//   thread_pool.*      the worker pool (parallel_for over chunks of a range)
//   workspace.*        per-backend scratch buffers (grown on demand, reused)
//
// One backend instance runs one op at a time (its scratch is per instance); the supernet
// serialises its calls. Different instances are independent.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "core/backend.h"

namespace gnas {

// threads: worker threads (0 = all cores).
std::unique_ptr<Backend> make_cpu_backend(int threads);

namespace cpu {

// The instruction set the CPU backend dispatches to on this machine: "avx512", "avx2" or
// "generic". The environment variable GNAS_CPU_ISA (same names) can force a lower one, for tests.
std::string selected_isa();

// The operand size above which the CPU backend streams an op's output past the caches
// (non-temporal stores): GNAS_CPU_STREAM_MIN_BYTES when set, else the last-level cache size
// (sysfs; else sysconf's, at most 32 MB). Throws on a malformed GNAS_CPU_STREAM_MIN_BYTES.
int64_t streamed_output_min_bytes();

}  // namespace cpu
}  // namespace gnas
