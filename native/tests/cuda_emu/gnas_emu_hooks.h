// Included inside namespace gnas::cuda::gemm by gemm.cuh under GNAS_CUDA_EMU.
inline unsigned char* dyn_smem() { return ::emu::g_smem; }
#define GNAS_LAUNCH(kernel, grid, block, smem, stream, ...) \
  ::emu::launch_named(#kernel, __FILE__, __LINE__, kernel, grid, block, smem, stream, __VA_ARGS__)
