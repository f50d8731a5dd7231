// The backend's dynamic_smem() seam (native/backends/cuda/cuda_common.cuh) for host compilers: the
// running block's dynamic shared memory, which the emulated launch allocates and poisons.
#include "backends/cuda/cuda_common.cuh"

namespace gnas {
namespace cuda {

unsigned char* dynamic_smem() { return ::emu::g_smem; }

}  // namespace cuda
}  // namespace gnas
