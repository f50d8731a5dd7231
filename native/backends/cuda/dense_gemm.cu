// The GEMM drivers of the dense ops (dense_gemm.cuh): tile and math-mode choice, the launch of the
// GEMM kernel (gemm.cuh), the split weight-gradient reduction, and the explicit instantiations of
// the operand layouts conv_dense.cu and fully_connected.cu use, so every kernel configuration is
// compiled once.
#include <atomic>

#include "backends/cuda/dense_gemm.cuh"

namespace gnas {
namespace cuda {
namespace dense_detail {

using gemm::Kind;
using gemm::SimtCfg;
using gemm::TcCfg;

constexpr int kMaxChunk = 4096;        // weight gradient: pixels summed in float per partial
constexpr int kSplitTargetBlocks = 512;  // weight gradient: aim for this many blocks (all tiles x chunks)

namespace {

// out[i] = sum over s < S of part[s * n + i] (double, fixed order). Block (32, ry), grid ceil(n / 32).
__global__ void split_reduce_kernel(float* out, const float* part, int S, int64_t n) {
  __shared__ double sh[32][33];
  const int tx = int(threadIdx.x), ty = int(threadIdx.y);
  const int64_t i = int64_t(blockIdx.x) * 32 + tx;
  sh[ty][tx] = i < n ? lane_sum(part, S, n, i) : 0.0;
  __syncthreads();
  if (ty == 0 && i < n) {
    double acc = 0.0;
    for (int y = 0; y < int(blockDim.y); ++y) acc += sh[y][tx];
    out[i] = float(acc);
  }
}

// ---- GEMM launch ----

template <class Cfg, class AOp, class BOp>
void launch_gemm(Context& ctx, const GemmArgs& g, int splits) {
  const int64_t gx = (int64_t(g.M) + Cfg::BM - 1) / Cfg::BM;
  const int64_t gy = (int64_t(g.N) + Cfg::BN - 1) / Cfg::BN;
  if (gx < 1 || gy < 1 || splits < 1) return;  // empty output
  if (gx > INT_MAX || gy > 65535 || splits > 65535) throw std::invalid_argument("dense: GEMM grid too large");
  constexpr int smem = Cfg::smem_bytes();
  auto kernel = gemm::gemm_kernel<Cfg, AOp, BOp>;
  if (smem > 48 * 1024) {
    // Opt in to more than 48 KiB of dynamic shared memory, once per kernel and device (not a
    // stream operation, so it is also kept out of any stream capture after the first use).
    static std::atomic<uint64_t> opted{0};
    const uint64_t bit = ctx.device >= 0 && ctx.device < 64 ? uint64_t(1) << ctx.device : 0;
    if (!bit || !(opted.load(std::memory_order_acquire) & bit)) {
      GNAS_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
      opted.fetch_or(bit, std::memory_order_acq_rel);
    }
  }
  launch(kernel, dim3(unsigned(gx), unsigned(gy), unsigned(splits)), dim3(Cfg::NT), size_t(smem), ctx.stream, g);
  GNAS_CUDA_LAUNCHED("dense gemm_kernel");
}

// Column tile for n output columns: 32, 64 or 128 (128 unless it wastes clearly more than 64).
int pick_tile(int n) {
  if (n <= 32) return 32;
  if (n <= 64) return 64;
  const int w128 = (n + 127) / 128 * 128 - n;
  const int w64 = (n + 63) / 64 * 64 - n;
  return w128 <= w64 + n / 8 ? 128 : 64;
}

}  // namespace

template <class AOp, class BOp>
void gemm_rows(Context& ctx, GemmArgs g) {
  g.chunk = g.R;
  g.split_stride = 0;
  const int bn = pick_tile(g.N);
  const bool tc = ctx.math != MathMode::FP32 && g.N >= 16 && g.R >= 16;
  if (tc && ctx.math == MathMode::TF32) {
    if (bn == 32) launch_gemm<TcCfg<Kind::Tf32, 128, 32, 32, 16>, AOp, BOp>(ctx, g, 1);
    else if (bn == 64) launch_gemm<TcCfg<Kind::Tf32, 128, 64, 32, 32>, AOp, BOp>(ctx, g, 1);
    else launch_gemm<TcCfg<Kind::Tf32, 128, 128, 64, 32>, AOp, BOp>(ctx, g, 1);
  } else if (tc) {
    if (bn == 32) launch_gemm<TcCfg<Kind::Bf16, 128, 32, 32, 16>, AOp, BOp>(ctx, g, 1);
    else if (bn == 64) launch_gemm<TcCfg<Kind::Bf16, 128, 64, 32, 32>, AOp, BOp>(ctx, g, 1);
    else launch_gemm<TcCfg<Kind::Bf16, 128, 128, 64, 32>, AOp, BOp>(ctx, g, 1);
  } else {
    if (bn == 32) launch_gemm<SimtCfg<128, 32, 4, 4>, AOp, BOp>(ctx, g, 1);
    else if (bn == 64) launch_gemm<SimtCfg<128, 64, 8, 4>, AOp, BOp>(ctx, g, 1);
    else launch_gemm<SimtCfg<128, 128, 8, 8>, AOp, BOp>(ctx, g, 1);
  }
  static_assert(kRowsBM == 128, "every rows config has BM = 128 (the statistics partials count on it)");
}

template <class AOp, class BOp>
void launch_any(Context& ctx, const GemmArgs& g, int bm, int bn, int splits) {
  const bool tc = ctx.math != MathMode::FP32 && bm >= 64 && bn >= 64;
  const int key = bm * 1000 + bn;
  if (tc && ctx.math == MathMode::TF32) {
    switch (key) {
      case 128128: launch_gemm<TcCfg<Kind::Tf32, 128, 128, 64, 32>, AOp, BOp>(ctx, g, splits); return;
      case 128064: launch_gemm<TcCfg<Kind::Tf32, 128, 64, 32, 32>, AOp, BOp>(ctx, g, splits); return;
      case 64128: launch_gemm<TcCfg<Kind::Tf32, 64, 128, 32, 32>, AOp, BOp>(ctx, g, splits); return;
      default: launch_gemm<TcCfg<Kind::Tf32, 64, 64, 32, 32>, AOp, BOp>(ctx, g, splits); return;
    }
  }
  if (tc) {
    switch (key) {
      case 128128: launch_gemm<TcCfg<Kind::Bf16, 128, 128, 64, 32>, AOp, BOp>(ctx, g, splits); return;
      case 128064: launch_gemm<TcCfg<Kind::Bf16, 128, 64, 32, 32>, AOp, BOp>(ctx, g, splits); return;
      case 64128: launch_gemm<TcCfg<Kind::Bf16, 64, 128, 32, 32>, AOp, BOp>(ctx, g, splits); return;
      default: launch_gemm<TcCfg<Kind::Bf16, 64, 64, 32, 32>, AOp, BOp>(ctx, g, splits); return;
    }
  }
  switch (key) {
    case 128128: launch_gemm<SimtCfg<128, 128, 8, 8>, AOp, BOp>(ctx, g, splits); return;
    case 128064: launch_gemm<SimtCfg<128, 64, 8, 4>, AOp, BOp>(ctx, g, splits); return;
    case 128032: launch_gemm<SimtCfg<128, 32, 4, 4>, AOp, BOp>(ctx, g, splits); return;
    case 64128: launch_gemm<SimtCfg<64, 128, 4, 8>, AOp, BOp>(ctx, g, splits); return;
    case 64064: launch_gemm<SimtCfg<64, 64, 4, 4>, AOp, BOp>(ctx, g, splits); return;
    case 64032: launch_gemm<SimtCfg<64, 32, 4, 4>, AOp, BOp>(ctx, g, splits); return;
    case 32128: launch_gemm<SimtCfg<32, 128, 4, 4>, AOp, BOp>(ctx, g, splits); return;
    case 32064: launch_gemm<SimtCfg<32, 64, 4, 4>, AOp, BOp>(ctx, g, splits); return;
    default: launch_gemm<SimtCfg<32, 32, 4, 4>, AOp, BOp>(ctx, g, splits); return;
  }
}

template <class BOp>
void gemm_wgrad(Context& ctx, float* out, const Operand& a, const Operand& b, int M, int N, int rows) {
  const int64_t MN = int64_t(M) * N;
  if (MN == 0) return;
  if (rows == 0) {
    zero(ctx, out, MN);
    return;
  }
  const int bm = pick_tile(M), bn = pick_tile(N);
  const int64_t tiles = int64_t((M + bm - 1) / bm) * ((N + bn - 1) / bn);
  int64_t splits = (kSplitTargetBlocks + tiles - 1) / tiles;
  int64_t chunk = (rows + splits - 1) / splits;
  if (chunk > kMaxChunk) chunk = kMaxChunk;
  const int64_t min_chunk = (int64_t(rows) + 65534) / 65535;  // gridDim.z <= 65535
  if (chunk < min_chunk) chunk = min_chunk;
  chunk = (chunk + 31) / 32 * 32;  // whole reduction tiles (BK = 16) of 4-aligned rows
  splits = (rows + chunk - 1) / chunk;

  GemmArgs g;
  g.a = a;
  g.b = b;
  g.M = M;
  g.N = N;
  g.R = rows;
  g.chunk = int(chunk);
  g.ldo = N;
  if (splits == 1) {
    g.out = out;
    g.split_stride = 0;
    g.out_vec = aligned16(out) && N % 4 == 0;
    launch_any<ColOp<kDirect>, BOp>(ctx, g, bm, bn, 1);
    return;
  }
  ScratchBuffer part(ctx, splits * MN);
  g.out = part.data();
  g.split_stride = MN;
  g.out_vec = aligned16(part.data()) && N % 4 == 0 && MN % 4 == 0;
  launch_any<ColOp<kDirect>, BOp>(ctx, g, bm, bn, int(splits));
  const int64_t rblocks = (MN + 31) / 32;
  if (rblocks > INT_MAX) throw std::invalid_argument("dense: weight gradient too large");
  launch(split_reduce_kernel, dim3(unsigned(rblocks)), dim3(32, reduce_rows_for(splits)), 0, ctx.stream, out,
      part.data(), int(splits), MN);
  GNAS_CUDA_LAUNCHED("dense split_reduce_kernel");
}

// The operand layouts the dense ops use (conv_dense.cu, fully_connected.cu).
template void gemm_rows<RowOp<kDirect>, RowOp<kDirect>>(Context&, GemmArgs);
template void gemm_rows<RowOp<kConv>, RowOp<kDirect>>(Context&, GemmArgs);
template void gemm_rows<RowOp<kDirect>, ColOp<kDirect>>(Context&, GemmArgs);
template void gemm_wgrad<ColOp<kDirect>>(Context&, float*, const Operand&, const Operand&, int, int, int);
template void gemm_wgrad<ColOp<kConv>>(Context&, float*, const Operand&, const Operand&, int, int, int);

}  // namespace dense_detail
}  // namespace cuda
}  // namespace gnas
