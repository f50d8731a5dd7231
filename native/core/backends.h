// Factory functions for the backends this build contains. The binding and the tests pick a
// backend by name through make_backend(); nothing else names a concrete backend class.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "backend.h"

namespace gnas {

std::unique_ptr<Backend> make_reference_backend();
std::unique_ptr<Backend> make_cpu_backend(int threads);

// "reference" or "cpu"; throws std::invalid_argument for an unknown name.
std::unique_ptr<Backend> make_backend(const std::string& name, int threads);
std::vector<std::string> backend_names();

}  // namespace gnas
