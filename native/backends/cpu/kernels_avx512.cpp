// The CPU kernels compiled for avx512 (CMake adds the ISA flags by file name). See simd.h and kernel_table.h.
#define GNAS_ISA_AVX512 1
#include "backends/cpu/kernel_table.h"

namespace gnas {
namespace cpu {
const KernelTable* kernels_avx512() { return &avx512::kTable; }
}  // namespace cpu
}  // namespace gnas
