// A host-memory view of a device backend, for the op harness (gnas_op_tests).
//
// The harness calls every backend with host pointers (std::vector data) and compares the results
// with the reference backend. A device backend (cuda) needs device pointers, so make_host_view()
// wraps it: every op of the returned Backend takes HOST pointers, uploads each input the op reads
// to device scratch (sizes derived from the op's own shape arguments), uploads each output
// buffer too (so an element the kernel never writes keeps the harness's NaN poison and fails the
// comparison), runs the device op, downloads every output completely and frees the scratch.
//
// Every method forwards to the device backend's own implementation, the optional ones included
// (bn_act_apply, bn_update_running, the *_fused conv variants), so the device's fused kernels are
// what the fused tests exercise, not the Backend base class defaults.
//
// The view's own memory methods (alloc, upload, ...) are the host defaults: its memory is host
// memory. Aliasing: when the same host pointer is passed for two arguments of one call (e.g. an
// in-place op), both map to the same device buffer; partially overlapping host ranges are not
// supported (the harness never passes them).
//
// Errors: by default an exception of the device (or of the staging) propagates. With an
// on_error handler, the view instead fills every output of the failed call with garbage the
// comparison cannot pass (NaN floats, 0xFF bytes), reports (op name, what()) to the handler and
// returns, so one run of the harness lists every failing op instead of stopping at the first.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "core/backend.h"

namespace gnas {
namespace test {

using OpErrorHandler = std::function<void(const std::string& op, const std::string& what)>;

std::unique_ptr<Backend> make_host_view(std::unique_ptr<Backend> device, OpErrorHandler on_error = nullptr);

}  // namespace test
}  // namespace gnas
