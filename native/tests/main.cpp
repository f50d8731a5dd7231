// gnas_op_tests: the C++ op harness. Runs (a) every built backend other than "reference" against
// the reference backend, op by op, forward and backward (backend_vs_reference.cpp), and (b) the
// reference's own checks in double: backward against central finite differences and
// hand-computed values (reference_checks.cpp). One line per comparison; the last line is
// "N passed, M failed"; the exit status is 1 on any failure or when no case ran, 2 on a usage
// error.
//
//   gnas_op_tests [--backend NAME] [--filter SUBSTRING] [--threads N]
//     --backend NAME   only this backend against the reference ("reference": only part b)
//     --filter S       only cases whose title contains S (e.g. "dwconv_backward", "k7 s2")
//     --threads N      worker threads of the backends under test (default 3: uneven partitions)
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "core/backends.h"
#include "harness.h"

namespace gnas {
namespace test {
void run_backend_vs_reference(Harness& h, const std::string& label, Backend& fast, Backend& ref);
void run_reference_checks(Harness& h);
void run_fused_vs_default(Harness& h, Backend& fast, Backend& ref);
}  // namespace test
}  // namespace gnas

int main(int argc, char** argv) {
  gnas::test::Harness h;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if ((a == "--backend" || a == "--filter" || a == "--threads") && i + 1 < argc) {
      const std::string v = argv[++i];
      if (a == "--backend") h.backend = v;
      else if (a == "--filter") h.filter = v;
      else h.threads = std::atoi(v.c_str());
    } else {
      std::fprintf(stderr, "usage: %s [--backend NAME] [--filter SUBSTRING] [--threads N]\n", argv[0]);
      return 2;
    }
  }
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
      auto fast = gnas::make_backend(name, h.threads);
      std::printf("== backend '%s' (reports name '%s', %d threads) against the reference\n", name.c_str(),
                  fast->name().c_str(), fast->threads());
      gnas::test::run_backend_vs_reference(h, name, *fast, *ref);
      gnas::test::run_fused_vs_default(h, *fast, *ref);
    }
    if (h.backend.empty() || h.backend == "reference") {
      std::printf("== reference: finite differences (double) and hand-computed values\n");
      gnas::test::run_reference_checks(h);
    }
  } catch (const std::exception& e) {
    std::printf("FAIL exception: %s\n", e.what());
    h.failed += 1;
  }
  std::printf("%d passed, %d failed\n", h.passed, h.failed);
  if (h.passed + h.failed == 0) {
    std::fprintf(stderr, "no case matched the filter\n");
    return 1;  // an empty run is not a pass
  }
  return h.failed == 0 ? 0 : 1;
}
