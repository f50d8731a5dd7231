// Reference softmax cross-entropy with label smoothing (part of reference_ops.h: conventions
// there).
#pragma once
#include <cmath>
#include <cstdint>

#include "core/backend.h"

namespace gnas {
namespace ref {

// ---- softmax cross-entropy with label smoothing ----
// target = (1 - smoothing) * onehot(label) + smoothing / K; loss[n] = sum_k target_k * (lse - z_k)
// with lse = log sum_k exp(z_k) computed after subtracting the row max. correct[n] = 1 iff the first
// index of the row maximum equals the label. dlogits (optional) = (softmax - target) / N.
template <typename T>
void softmax_xent(T* loss, uint8_t* correct, T* dlogits, const T* logits, const int32_t* labels, T smoothing, int N,
                  int K) {
  const double sm = double(smoothing);
  for (int n = 0; n < N; ++n) {
    const T* z = logits + int64_t(n) * K;
    const int label = labels[n];
    int best = 0;
    for (int k = 1; k < K; ++k)
      if (z[k] > z[best]) best = k;
    const double zmax = double(z[best]);
    double sum = 0;
    for (int k = 0; k < K; ++k) sum += std::exp(double(z[k]) - zmax);
    const double lse = zmax + std::log(sum);
    double l = 0;
    for (int k = 0; k < K; ++k) {
      const double target = (k == label ? 1.0 - sm : 0.0) + sm / double(K);
      l += target * (lse - double(z[k]));
      if (dlogits) dlogits[int64_t(n) * K + k] = T((std::exp(double(z[k]) - lse) - target) / double(N));
    }
    loss[n] = T(l);
    correct[n] = uint8_t(best == label ? 1 : 0);
  }
}

}  // namespace ref
}  // namespace gnas
