// The reference backend (make_backend("reference") in backends/registry.h): naive op templates,
// one thread, double accumulation; the executable specification the other backends are tested
// against (reference_backend.cpp).
#pragma once
#include <memory>

#include "core/backend.h"

namespace gnas {

std::unique_ptr<Backend> make_reference_backend();

}  // namespace gnas
