// gnas_op_tests: the C++ op harness. Runs (a) every built backend other than "reference" against
// the reference backend, op by op, forward and backward (backend_vs_reference.cpp), plus the
// fused conv methods against their composed defaults (fused_vs_default.cpp), and (b) the
// reference's own checks in double: backward against central finite differences and
// hand-computed values (reference_checks.cpp), host memory going back to the system
// (host_memory_checks.cpp) and the CPU thread pool's two hand-outs (thread_pool_checks.cpp). One line per comparison; the last line is
// "N passed, M failed"; the exit status is 1 on any failure or when no case ran, 2 on a usage
// error.
//
// The cuda backend (when built) runs only where probe_backends() finds a usable device; otherwise
// it prints "SKIP backend 'cuda': <why>" and is not a failure (unless it was the only thing asked
// for: an empty run fails). Its ops take device pointers, so the harness drives it through a host
// view (host_view.h) that stages every argument. It runs twice: math "fp32" with the full table
// at the usual tolerances, then "cuda-tf32" (TF32 tensor-core GEMMs) with only the dense conv and
// fc cases, at tolerances scaled by kTf32TolScale.
//
//   gnas_op_tests [--backend NAME] [--filter SUBSTRING] [--threads N] [--device N]
//     --backend NAME   only this backend against the reference ("reference": only part b)
//     --filter S       only cases whose title contains S (e.g. "dwconv_backward", "k7 s2")
//     --threads N      worker threads of the backends under test (default 3: uneven partitions)
//     --device N       device ordinal of the cuda backend (default 0)
//     --host-view      also run the cpu backend through the host view ("cpu-view"): checks the
//                      view's staging (sizes, null outputs, poisoning) on a machine without a GPU
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "backends/reference/reference_backend.h"
#include "backends/registry.h"
#include "harness.h"
#include "host_view.h"

namespace gnas {
namespace test {
void run_backend_vs_reference(Harness& h, const std::string& label, Backend& fast, Backend& ref);
void run_reference_checks(Harness& h);
void run_fused_vs_default(Harness& h, Backend& fast, Backend& ref);
void run_bf16_vs_reference(Harness& h, Backend& fast, Backend& ref);
void run_host_memory_checks(Harness& h);
void run_thread_pool_checks(Harness& h);
void run_empty_batch_checks(Harness& h, Backend& be);
}  // namespace test
}  // namespace gnas

namespace {

// TF32 keeps 10 of float's 23 mantissa bits: each GEMM input is rounded with relative error up
// to 2^-11 (2^-10 if truncated), so a product is off by up to ~1e-3 relative and a dot product's
// error relative to the output's max-abs is of that order (1e-3), ~10x the FP32 forward tolerance
// (1e-4) and up to 20x with truncation. 100x leaves margin: forward / dx 1e-2, parameter
// gradients 1e-1. Indexing bugs (a missed tile, a wrong tail) give O(1) errors and still fail.
constexpr double kTf32TolScale = 100.0;

bool parse_int(const std::string& s, int& out) {
  char* end = nullptr;
  const long v = std::strtol(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || v < 0 || v > 1 << 20) return false;
  out = int(v);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  gnas::test::Harness h;
  bool host_view_cpu = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    bool ok = false;
    if (a == "--host-view") {
      host_view_cpu = ok = true;
    } else if ((a == "--backend" || a == "--filter" || a == "--threads" || a == "--device") && i + 1 < argc) {
      const std::string v = argv[++i];
      ok = true;
      if (a == "--backend") h.backend = v;
      else if (a == "--filter") h.filter = v;
      else if (a == "--threads") ok = parse_int(v, h.threads);
      else ok = parse_int(v, h.device);
    }
    if (!ok) {
      std::fprintf(stderr, "usage: %s [--backend NAME] [--filter SUBSTRING] [--threads N] [--device N] [--host-view]\n", argv[0]);
      return 2;
    }
  }
  std::string skipped;  // why a requested backend did not run
  try {
    bool known = h.backend.empty();
    for (const auto& name : gnas::backend_names()) known = known || name == h.backend;
    if (!known) {
      std::fprintf(stderr, "unknown backend '%s'\n", h.backend.c_str());
      return 2;
    }
    auto ref = gnas::make_reference_backend();
    for (const auto& name : gnas::backend_names()) {
      if (name == "reference" || (!h.backend.empty() && name != h.backend)) continue;
      if (name == "cuda") {
        gnas::BackendInfo info;
        for (const auto& b : gnas::probe_backends())
          if (b.name == "cuda") info = b;
        if (!info.usable || h.device >= info.devices) {
          const std::string why = !info.usable ? info.detail
                                               : "device " + std::to_string(h.device) + " requested, " +
                                                     std::to_string(info.devices) + " found (" + info.detail + ")";
          std::printf("SKIP backend 'cuda': %s\n", why.c_str());
          std::fflush(stdout);
          skipped += "cuda: " + why;
          continue;
        }
        for (const char* math : {"fp32", "tf32"}) {
          gnas::BackendOptions o;
          o.threads = h.threads;
          o.device = h.device;
          o.math = math;
          const bool tf32 = std::string(math) == "tf32";
          const std::string label = tf32 ? "cuda-tf32" : "cuda";
          // A device error in one op fails that op's cases (its outputs come back as NaN) and the
          // run goes on, so one run on a GPU machine lists every failing op.
          auto on_error = [&h, label](const std::string& op, const std::string& what) {
            std::printf("FAIL %s %s: exception: %s\n", label.c_str(), op.c_str(), what.c_str());
            std::fflush(stdout);
            h.failed += 1;
          };
          auto fast = gnas::test::make_host_view(gnas::make_backend("cuda", o), on_error);
          if (!tf32) {
            std::printf("== backend 'cuda' (reports name '%s', device %d, math fp32, host view) against the reference\n",
                        fast->name().c_str(), h.device);
          } else {
            std::printf(
                "== backend 'cuda-tf32' (reports name '%s', device %d, math tf32, host view): dense conv and fc cases "
                "only, tolerances x%g (TF32 rounds GEMM inputs to a 10-bit mantissa: ~1e-3 relative error)\n",
                fast->name().c_str(), h.device, kTf32TolScale);
            // " conv_" with the space: not "dwconv_"; "conv N" is the fused dense-conv cases
            h.only_any = {" conv_forward ", " conv_backward ", " fc_forward ", " fc_backward ", "conv N"};
            h.tol_scale = kTf32TolScale;
          }
          try {
            gnas::test::run_backend_vs_reference(h, label, *fast, *ref);
            gnas::test::run_fused_vs_default(h, *fast, *ref);
          } catch (...) {
            h.only_any.clear();
            h.tol_scale = 1.0;
            throw;
          }
          h.only_any.clear();
          h.tol_scale = 1.0;
        }
        continue;
      }
      gnas::BackendOptions o;
      o.threads = h.threads;
      auto fast = gnas::make_backend(name, o);
      std::printf("== backend '%s' (reports name '%s', %d threads) against the reference\n", name.c_str(),
                  fast->name().c_str(), fast->threads());
      gnas::test::run_backend_vs_reference(h, name, *fast, *ref);
      gnas::test::run_fused_vs_default(h, *fast, *ref);
      gnas::test::run_bf16_vs_reference(h, *fast, *ref);
      if (name == "cpu") gnas::test::run_empty_batch_checks(h, *fast);  // host pointers
      if (name == "cpu" && host_view_cpu) {
        auto view = gnas::test::make_host_view(gnas::make_backend("cpu", o));
        std::printf("== backend 'cpu-view' (the cpu backend through the host view) against the reference\n");
        gnas::test::run_backend_vs_reference(h, "cpu-view", *view, *ref);
        gnas::test::run_fused_vs_default(h, *view, *ref);
      }
    }
    if (h.backend.empty() || h.backend == "reference") {
      std::printf("== reference: finite differences (double) and hand-computed values\n");
      gnas::test::run_reference_checks(h);
      gnas::test::run_host_memory_checks(h);
      gnas::test::run_thread_pool_checks(h);
    }
  } catch (const std::exception& e) {
    std::printf("FAIL exception: %s\n", e.what());
    h.failed += 1;
  }
  std::printf("%d passed, %d failed\n", h.passed, h.failed);
  if (h.passed + h.failed == 0) {
    if (!skipped.empty()) std::fprintf(stderr, "no case ran (skipped %s)\n", skipped.c_str());
    else std::fprintf(stderr, "no case matched the filter\n");
    return 1;  // an empty run is not a pass
  }
  return h.failed == 0 ? 0 : 1;
}
