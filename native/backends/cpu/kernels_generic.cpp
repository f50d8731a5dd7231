// The CPU kernels compiled for generic (baseline x86-64, SSE2). See simd.h and kernel_table.h.
#define GNAS_ISA_GENERIC 1
#include "backends/cpu/kernel_table.h"

namespace gnas {
namespace cpu {
const KernelTable* kernels_generic() { return &generic::kTable; }
}  // namespace cpu
}  // namespace gnas
