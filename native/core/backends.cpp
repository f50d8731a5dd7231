#include "backends.h"

#include <stdexcept>

namespace gnas {

std::unique_ptr<Backend> make_backend(const std::string& name, int threads) {
  if (name == "reference") return make_reference_backend();
  if (name == "cpu") return make_cpu_backend(threads);
  throw std::invalid_argument("unknown backend '" + name + "' (built: reference, cpu)");
}

std::vector<std::string> backend_names() { return {"reference", "cpu"}; }

}  // namespace gnas
