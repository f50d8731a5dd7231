// Softmax cross-entropy of the CUDA backend: one warp per row (K up to 1000 or more),
// max-subtracted, double sums in a fixed shuffle tree (deterministic).
#include <climits>
#include <cmath>

#include "backends/cuda/kernel_helpers.cuh"
#include "backends/cuda/launchers.h"

namespace gnas {
namespace cuda {
namespace {

// ---- softmax cross-entropy: one warp per row ----
__global__ void softmax_xent_kernel(float* __restrict__ loss, uint8_t* __restrict__ correct,
                                    float* __restrict__ dlogits, const float* __restrict__ logits,
                                    const int32_t* __restrict__ labels, double sm, int N, int K) {
  const int64_t row = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  if (row >= N) return;  // whole warp leaves together
  const float* z = logits + row * K;
  // argmax, first index of the maximum: per lane over k = lane, lane + 32, ... (increasing, strict >),
  // then a tree where the larger value wins and equal values keep the lower index
  float bv = 0.f;
  int bi = INT_MAX;  // INT_MAX: this lane has no element
  for (int k = lane; k < K; k += 32) {
    const float v = z[k];
    if (bi == INT_MAX || v > bv) {
      bv = v;
      bi = k;
    }
  }
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) {
    const float ov = __shfl_down_sync(0xffffffffu, bv, off);
    const int oi = __shfl_down_sync(0xffffffffu, bi, off);
    if (oi != INT_MAX && (bi == INT_MAX || ov > bv || (ov == bv && oi < bi))) {
      bv = ov;
      bi = oi;
    }
  }
  bi = __shfl_sync(0xffffffffu, bi, 0);
  const int best = bi == INT_MAX ? 0 : bi;  // K >= 1 guarantees a valid index
  const double zmax = double(z[best]);
  double s = 0;
  for (int k = lane; k < K; k += 32) s += exp(double(z[k]) - zmax);
  s = warp_sum_all(s);
  const double lse = zmax + log(s);
  const int label = labels[row];
  const double off_t = sm / double(K);
  double l = 0;
  for (int k = lane; k < K; k += 32) {
    const double target = (k == label ? 1.0 - sm : 0.0) + off_t;
    const double zk = double(z[k]);
    l += target * (lse - zk);
    if (dlogits) dlogits[row * K + k] = float((exp(zk - lse) - target) / double(N));
  }
  l = warp_sum_lane0(l);
  if (lane == 0) {
    loss[row] = float(l);
    correct[row] = uint8_t(best == label ? 1 : 0);
  }
}

}  // namespace

void launch_softmax_xent(Context& ctx, float* loss, uint8_t* correct, float* dlogits, const float* logits,
                         const int32_t* labels, float smoothing, int N, int K) {
  if (N <= 0 || K <= 0) return;
  launch(softmax_xent_kernel, warp_blocks(N), kThreads, 0, ctx.stream, loss, correct, dlogits, logits, labels,
      double(smoothing), N, K);
  GNAS_CUDA_LAUNCHED("softmax_xent_kernel");
}

}  // namespace cuda
}  // namespace gnas
