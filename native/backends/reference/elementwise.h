// Reference elementwise ops: residual add and SGD (part of reference_ops.h: conventions there).
#pragma once
#include <cmath>
#include <cstdint>

#include "core/backend.h"

namespace gnas {
namespace ref {

// ---- elementwise: y[i] += x[i] ----
template <typename T>
void add_inplace(T* y, const T* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = T(double(y[i]) + double(x[i]));
}

// ---- SGD with momentum, PyTorch semantics (dampening 0) ----
// g' = g + weight_decay * w; v = momentum * v + g'; step = nesterov ? g' + momentum * v : v; w -= lr * step.
// nonfinite (may be null) is set to 1 when an updated w or velocity is not finite.
template <typename T>
void sgd_update(T* w, T* velocity, const T* g, int64_t n, T lr, T momentum, T weight_decay, bool nesterov,
                T* nonfinite = nullptr) {
  const double mo = double(momentum), wd = double(weight_decay), eta = double(lr);
  for (int64_t i = 0; i < n; ++i) {
    const double gp = double(g[i]) + wd * double(w[i]);
    const double v = mo * double(velocity[i]) + gp;
    const double step = nesterov ? gp + mo * v : v;
    velocity[i] = T(v);
    w[i] = T(double(w[i]) - eta * step);
    if (nonfinite && !(std::isfinite(double(w[i])) && std::isfinite(double(velocity[i])))) *nonfinite = T(1);
  }
}

}  // namespace ref
}  // namespace gnas
