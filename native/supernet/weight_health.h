// Non-finite weights, caught where they appear. The SGD kernels raise a flag when an updated
// weight or momentum value is not finite (checked inside the update pass: no extra sweep); only
// then does a sweep over the tensors name them. A supernet whose weights went non-finite refuses
// every later compute call and checkpoint save (NonFiniteError, code GNAS_NONFINITE) until a
// checkpoint is loaded: NaN weights can still give finite-looking scores (ReLU6 and max-pooling
// comparisons swallow NaN), so their scores must never be returned.
#pragma once
#include <stdexcept>
#include <string>

#include "core/backend.h"
#include "supernet/tensor_store.h"

namespace gnas {

class NonFiniteError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class WeightHealth {
 public:
  explicit WeightHealth(Backend& be);

  // The flag (backend memory) every sgd_update and bn_update_running call receives. Once raised
  // it stays up: the supernet is poisoned then, and only restored() lowers it.
  float* flag() { return flag_.data(); }
  // Whether any update since construction or restored() raised it (waits for queued device work).
  bool raised();

  // Marks the weights as non-finite; every guarded call throws `why` from now on.
  void poison(const std::string& why) { why_ = why; }
  // The weights were replaced wholesale by finite values (a checkpoint was loaded).
  void restored();
  bool poisoned() const { return !why_.empty(); }
  // Throws NonFiniteError naming the call and the reason when poisoned.
  void require_finite(const std::string& call) const;

 private:
  Backend& be_;
  BackendBuffer flag_;
  std::string why_;
};

// "232984 non-finite values in 57 tensors (first: 'layers.0.ops.1.pw.weight', in its momentum)",
// or "" when every value and momentum value of the store is finite. A full sweep: only for
// reporting, after a flag was raised, and for checkpoints being loaded.
std::string describe_nonfinite(const TensorStore& store);
// The same for host copies of the whole arena (total() floats each; velocities may be null).
std::string describe_nonfinite(const TensorStore& store, const float* values, const float* velocities);

}  // namespace gnas
