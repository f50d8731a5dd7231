// Global average pooling of the CUDA backend, forward and backward, and the per-image column sums
// it shares with squeeze-excite (squeeze_excite.cu: SE pooling and the gate gradient). Sums are
// in double and in a fixed order (deterministic).
#include "backends/cuda/kernel_helpers.cuh"
#include "backends/cuda/launchers.h"

namespace gnas {
namespace cuda {
namespace {

// ---- per-image column sums (GAP, SE): block (32, 8) = 32 lanes x 8 row lanes ----
// A warp covers cw = min(C, 32) channels; with C < 32 it also covers g = 32 / cw rows at once, so
// small C does not leave most lanes idle. Row lane r = ty * g + sub walks rows r, r + R, ... with
// R = 8 g; the block then sums its R partial sums per channel in a fixed order (deterministic).
constexpr int kRowLanes = 8;

template <bool PROD>
__global__ void __launch_bounds__(32 * kRowLanes) image_colsum_kernel(float* __restrict__ out_mean,
                                                                      double* __restrict__ out_sum,
                                                                      const float* __restrict__ a,
                                                                      const float* __restrict__ b,
                                                                      const float* __restrict__ gate, int N, int HW,
                                                                      int C, int cw, int g) {
  __shared__ double red[kRowLanes][32];
  const int lane = threadIdx.x, ty = threadIdx.y;
  const int sub = lane / cw, cl = lane - sub * cw;
  const int c = blockIdx.x * cw + cl;
  const bool active = sub < g && c < C;
  const int R = kRowLanes * g, r = ty * g + sub;
  for (int n = blockIdx.y; n < N; n += gridDim.y) {
    double s = 0;
    if (active) {
      const int64_t base = int64_t(n) * HW * C + c;
      const float* an = a + base;
      const float* bn = PROD ? b + base : nullptr;
      for (int i = r; i < HW; i += R) {
        const int64_t off = int64_t(i) * C;
        if (PROD)
          s += double(an[off]) * double(bn[off]);
        else
          s += double(an[off]);
      }
    }
    red[ty][lane] = s;
    __syncthreads();
    if (ty == 0 && sub == 0 && c < C) {
      double t = 0;
      for (int y = 0; y < kRowLanes; ++y)
        for (int sb = 0; sb < g; ++sb) t += red[y][sb * cw + cl];
      const int64_t o = int64_t(n) * C + c;
      if (out_mean) out_mean[o] = float(t / double(HW));
      if (out_sum) {
        if (gate) {
          const double gt = double(gate[o]);
          out_sum[o] = t * gt * (1.0 - gt);
        } else {
          out_sum[o] = t;
        }
      }
    }
    __syncthreads();
  }
}

// ---- GAP backward: dx[n][i][c] = dy[n][c] / HW ----
__global__ void gap_backward_kernel(float* __restrict__ dx, const float* __restrict__ dy, int N, int HW, int C) {
  const int64_t per = int64_t(HW) * C;
  const double den = double(HW);
  for (int n = blockIdx.y; n < N; n += gridDim.y) {
    int64_t j = gtid();
    const int64_t stride = gstride();
    int c = int(j % C);
    const int cstep = int(stride % C);
    float* dxn = dx + int64_t(n) * per;
    const float* dyn = dy + int64_t(n) * C;
    for (; j < per; j += stride) {
      dxn[j] = float(double(dyn[c]) / den);
      c += cstep;
      if (c >= C) c -= C;
    }
  }
}

}  // namespace

void launch_image_colsum(Context& ctx, float* out_mean, double* out_sum, const float* a, const float* b,
                         const float* gate, int N, int HW, int C) {
  if (N <= 0 || C <= 0) return;
  if (HW <= 0) {
    // empty images: sums are 0 (and the mean 0/0 is left to the caller; never happens in the net)
    return;
  }
  const int cw = C < 32 ? C : 32;
  const int g = 32 / cw;
  const dim3 block(32, kRowLanes);
  const dim3 grid(unsigned(ceil_div(C, cw)), unsigned(N < 65535 ? N : 65535));
  if (b)
    launch(image_colsum_kernel<true>, grid, block, 0, ctx.stream, out_mean, out_sum, a, b, gate, N, HW, C, cw, g);
  else
    launch(image_colsum_kernel<false>, grid, block, 0, ctx.stream, out_mean, out_sum, a, b, gate, N, HW, C, cw, g);
  GNAS_CUDA_LAUNCHED("image_colsum_kernel");
}

void launch_gap_forward(Context& ctx, float* y, const float* x, int N, int HW, int C) {
  launch_image_colsum(ctx, y, nullptr, x, nullptr, nullptr, N, HW, C);
}

void launch_gap_backward(Context& ctx, float* dx, const float* dy, int N, int HW, int C) {
  if (N <= 0 || HW <= 0 || C <= 0) return;
  const int64_t per = int64_t(HW) * C;
  // spread the blocks of the device over the images; each image gets at least one block
  int bx = flat_blocks(ctx, per);
  const int by = N < 65535 ? N : 65535;
  const int64_t cap = int64_t(ctx.sm_count > 0 ? ctx.sm_count : 1) * 16;
  if (int64_t(bx) * by > cap) bx = int(cap / by > 1 ? cap / by : 1);
  launch(gap_backward_kernel, dim3(unsigned(bx), unsigned(by)), kThreads, 0, ctx.stream, dx, dy, N, HW, C);
  GNAS_CUDA_LAUNCHED("gap_backward_kernel");
}

}  // namespace cuda
}  // namespace gnas
