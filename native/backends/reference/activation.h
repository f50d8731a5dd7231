// Reference activations and their derivatives, in double (conventions in reference_ops.h).
#pragma once
#include <cmath>
#include <cstdint>

#include "core/backend.h"

namespace gnas {
namespace ref {

// ---- activations (in double) ----
inline double act_apply(double z, Act act) {
  switch (act) {
    case Act::None: return z;
    case Act::ReLU: return z > 0 ? z : 0.0;
    case Act::ReLU6: return z <= 0 ? 0.0 : (z >= 6 ? 6.0 : z);
    case Act::HSwish: {
      const double r6 = z + 3 <= 0 ? 0.0 : (z + 3 >= 6 ? 6.0 : z + 3);
      return z * r6 / 6.0;
    }
  }
  return z;
}

// d act(z) / dz with the conventions of the file header.
inline double act_grad(double z, Act act) {
  switch (act) {
    case Act::None: return 1.0;
    case Act::ReLU: return z > 0 ? 1.0 : 0.0;
    case Act::ReLU6: return (z > 0 && z < 6) ? 1.0 : 0.0;
    case Act::HSwish:
      if (z <= -3) return 0.0;
      if (z >= 3) return 1.0;
      return (2 * z + 3) / 6.0;
  }
  return 1.0;
}

}  // namespace ref
}  // namespace gnas
