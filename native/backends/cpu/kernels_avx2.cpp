// The CPU kernels compiled for avx2 (CMake adds the ISA flags by file name). See simd.h and kernel_table.h.
#define GNAS_ISA_AVX2 1
#include "backends/cpu/kernel_table.h"

namespace gnas {
namespace cpu {
const KernelTable* kernels_avx2() { return &avx2::kTable; }
}  // namespace cpu
}  // namespace gnas
