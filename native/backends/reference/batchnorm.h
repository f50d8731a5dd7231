// Reference batch norm + activation, forward (train, eval) and backward (part of reference_ops.h:
// conventions there).
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "backends/reference/activation.h"
#include "core/backend.h"

namespace gnas {
namespace ref {

// ---- batch norm + activation over x[M][C]: y = act(gamma * (x - mean) * invstd + beta) ----
// Train mode: batch mean and biased variance (two passes, double); saves mean and invstd.
template <typename T>
void bn_act_forward_train(T* y, T* mean, T* invstd, const T* x, const T* gamma, const T* beta, T eps, Act act,
                          int64_t M, int C) {
  for (int c = 0; c < C; ++c) {
    double sum = 0;
    for (int64_t m = 0; m < M; ++m) sum += double(x[m * C + c]);
    const double mu = sum / double(M);
    double sq = 0;
    for (int64_t m = 0; m < M; ++m) {
      const double d = double(x[m * C + c]) - mu;
      sq += d * d;
    }
    const double var = sq / double(M);
    const double is = 1.0 / std::sqrt(var + double(eps));
    mean[c] = T(mu);
    invstd[c] = T(is);
    for (int64_t m = 0; m < M; ++m) {
      const double z = double(gamma[c]) * (double(x[m * C + c]) - mu) * is + double(beta[c]);
      y[m * C + c] = T(act_apply(z, act));
    }
  }
}

// Eval mode: running statistics, invstd = 1 / sqrt(running_var + eps).
template <typename T>
void bn_act_forward_eval(T* y, const T* x, const T* gamma, const T* beta, const T* running_mean,
                         const T* running_var, T eps, Act act, int64_t M, int C) {
  for (int c = 0; c < C; ++c) {
    const double is = 1.0 / std::sqrt(double(running_var[c]) + double(eps));
    for (int64_t m = 0; m < M; ++m) {
      const double z =
          double(gamma[c]) * (double(x[m * C + c]) - double(running_mean[c])) * is + double(beta[c]);
      y[m * C + c] = T(act_apply(z, act));
    }
  }
}

// Backward of the train-mode forward, including the dependence of the batch statistics on x:
// dz = dy * act'(z), xhat = (x - mean) * invstd,
// dbeta = sum dz, dgamma = sum dz * xhat, dx = gamma * invstd * (dz - mean(dz) - xhat * mean(dz * xhat)).
template <typename T>
void bn_act_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const T* mean, const T* invstd,
                     const T* gamma, const T* beta, Act act, int64_t M, int C) {
  std::vector<double> dz(static_cast<size_t>(M));
  for (int c = 0; c < C; ++c) {
    const double mu = double(mean[c]), is = double(invstd[c]), g = double(gamma[c]), b = double(beta[c]);
    double sum_dz = 0, sum_dz_xhat = 0;
    for (int64_t m = 0; m < M; ++m) {
      const double xhat = (double(x[m * C + c]) - mu) * is;
      const double z = g * xhat + b;
      dz[size_t(m)] = double(dy[m * C + c]) * act_grad(z, act);
      sum_dz += dz[size_t(m)];
      sum_dz_xhat += dz[size_t(m)] * xhat;
    }
    dgamma[c] = T(sum_dz_xhat);
    dbeta[c] = T(sum_dz);
    if (dx) {
      const double mean_dz = sum_dz / double(M), mean_dz_xhat = sum_dz_xhat / double(M);
      for (int64_t m = 0; m < M; ++m) {
        const double xhat = (double(x[m * C + c]) - mu) * is;
        dx[m * C + c] = T(g * is * (dz[size_t(m)] - mean_dz - xhat * mean_dz_xhat));
      }
    }
  }
}

}  // namespace ref
}  // namespace gnas
