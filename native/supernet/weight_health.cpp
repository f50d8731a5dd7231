#include "supernet/weight_health.h"

#include <cmath>
#include <vector>

namespace gnas {

WeightHealth::WeightHealth(Backend& be) : be_(be), flag_(be) { be_.fill(flag_.ensure(1), 0.0f, 1); }

void WeightHealth::restored() {
  why_.clear();
  be_.fill(flag_.data(), 0.0f, 1);
}

bool WeightHealth::raised() {
  float host = 0.0f;
  be_.download(&host, flag_.data(), sizeof(float));
  return host != 0.0f;
}

void WeightHealth::require_finite(const std::string& call) const {
  if (poisoned()) {
    throw NonFiniteError(call + ": the supernet's weights are not finite (" + why_ +
                         "); load a checkpoint written before the divergence, then lower the learning rate");
  }
}

std::string describe_nonfinite(const TensorStore& store, const float* values, const float* velocities) {
  int64_t count = 0;
  int tensors = 0;
  std::string first;
  for (const TensorEntry& e : store.entries()) {
    int64_t here = 0;
    bool in_momentum_only = true;
    for (int64_t i = e.offset; i < e.offset + e.size; i++) {
      const bool bad_v = !std::isfinite(values[i]);
      const bool bad_m = velocities && e.kind == TensorKind::Param && !std::isfinite(velocities[i]);
      if (bad_v || bad_m) here++;
      if (bad_v) in_momentum_only = false;
    }
    if (here == 0) continue;
    if (first.empty()) first = "'" + e.name + "'" + (in_momentum_only ? ", in its momentum" : "");
    count += here;
    tensors++;
  }
  if (count == 0) return "";
  return std::to_string(count) + " non-finite value" + (count == 1 ? "" : "s") + " in " + std::to_string(tensors) +
         " tensor" + (tensors == 1 ? "" : "s") + " (first: " + first + ")";
}

std::string describe_nonfinite(const TensorStore& store) {
  const std::vector<float> values = store.read_all_values();
  const std::vector<float> velocities = store.read_all_velocities();
  return describe_nonfinite(store, values.data(), velocities.data());
}

}  // namespace gnas
