// Softmax cross-entropy with label smoothing over logits[N][K]. N x K is tiny (128 x 10 in
// training), so this is a plain per-row loop in double, the same arithmetic as the reference.
#pragma once

namespace gnas {
namespace cpu {
namespace GNAS_ISA {

static void softmax_xent(Ctx&, float* loss, uint8_t* correct, float* dlogits, const float* logits,
                         const int32_t* labels, float smoothing, int N, int K) {
  const double sm = double(smoothing);
  for (int n = 0; n < N; ++n) {
    const float* z = logits + int64_t(n) * K;
    const int label = labels[n];
    int best = 0;
    for (int k = 1; k < K; ++k)
      if (z[k] > z[best]) best = k;
    const double zmax = double(z[best]);
    double sum = 0;
    for (int k = 0; k < K; ++k) sum += exp(double(z[k]) - zmax);
    const double lse = zmax + log(sum);
    double l = 0;
    for (int k = 0; k < K; ++k) {
      const double target = (k == label ? 1.0 - sm : 0.0) + sm / double(K);
      l += target * (lse - double(z[k]));
      if (dlogits) dlogits[int64_t(n) * K + k] = float((exp(double(z[k]) - lse) - target) / double(N));
    }
    loss[n] = float(l);
    correct[n] = uint8_t(best == label ? 1 : 0);
  }
}

}  // namespace GNAS_ISA
}  // namespace cpu
}  // namespace gnas
