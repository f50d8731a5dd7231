// gnas_supernet_tests: whole-supernet checks across backends, on top of the per-op harness
// (gnas_op_tests). Every check trains --steps steps (train_step) on seeded synthetic batches (u8
// and float images alternately, batch 8) along seeded paths, then scores 5 paths (batch and
// running BN), predicts one path's logits and calibrates one path's BN:
//
//   space_desc_text        the text form of the space: format/parse round trip, error line
//                          numbers, arch parsing (no backend involved)
//   call arena             the per-call buffer memory (supernet/tensor_store.h) on the CPU
//                          backend: no overlap, one block per call, stale buffers unreadable
//   (a) cpu vs reference   always (unless --skip-reference)
//   (b) DEVICE vs cpu      --backend (default cuda); where no device is usable it prints
//                          "SKIP cuda trajectory: <why>", which is not a failure
//   (c) DEVICE determinism two independent DEVICE runs, same seed: bit-identical losses, tensors,
//                          momentum buffers, scores, logits, calibrated statistics
//   (d) DEVICE checkpoint  save_checkpoint on a DEVICE supernet, load_checkpoint into a cpu one
//                          and back into a fresh DEVICE one: bit-identical values and momentum
//
// Tolerances: supernet_checks.h. Lockstep: lockstep.cpp.
// All cases print "PASS/FAIL title what err tol"; the last line is "N passed, M failed"; the exit
// status is 1 on any failure (or when nothing ran), 2 on a usage error.
//
//   gnas_supernet_tests [--desc FILE [--arch FILE]] [--steps N] [--backend NAME] [--device N]
//                       [--threads N] [--lr X] [--skip-reference] [--verbose] [--perturb]
//     --desc FILE       the space (docs/parameters.md, "Space description files"), e.g.
//                       bench/net/w1.desc; default: a small built-in space (15x13x3 input, 4
//                       searchable layers of 7 ops: MBConv k3/k5/k7, e1/e3/e6, SE, skip, and a
//                       strided 1x1 identity)
//     --arch FILE       a path trained on every other step (the others are seeded random paths)
//                       and scored first
//     --steps N         training steps (default 20)
//     --backend NAME    the backend of checks b-d (default cuda; "cpu" runs them without a GPU:
//                       (c) then checks the CPU backend's determinism)
//     --device N        device ordinal (cuda)
//     --threads N       cpu backend worker threads (default 0: all cores)
//     --lr X            learning rate (default 0.05)
//     --skip-reference  skip check (a): the reference backend is slow beyond the built-in space
//                       (W1: ~1 minute; ImageNet-sized spaces: far longer)
//     --verbose         print every step's worst tensor
//     --perturb         diagnostic: in (a) and (b), B starts every step one ulp away from A, so
//                       the lockstep errors show the sensitivity floor of this space
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "backends/registry.h"
#include "supernet/space_desc_text.h"
#include "tests/supernet/supernet_checks.h"

namespace gnas {
namespace test {
namespace {
// Runs `body`; an exception is one failure (with its message) and the remaining groups still run.
void guarded(Harness& h, const std::string& title, const std::function<void()>& body) {
  try {
    body();
  } catch (const std::exception& e) {
    std::printf("FAIL %s: exception: %s\n", title.c_str(), e.what());
    std::fflush(stdout);
    h.failed += 1;
  }
}

bool device_usable(const std::string& backend, int device, std::string& why) {
  if (backend != "cuda") return true;
  for (const BackendInfo& b : probe_backends()) {
    if (b.name != "cuda") continue;
    if (!b.usable) {
      why = b.detail;
      return false;
    }
    if (device >= b.devices) {
      why = "device " + std::to_string(device) + " requested, " + std::to_string(b.devices) + " found (" + b.detail + ")";
      return false;
    }
    return true;
  }
  why = "no cuda entry in probe_backends()";
  return false;
}

int usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--desc FILE [--arch FILE]] [--steps N] [--backend NAME] [--device N] [--threads N] "
               "[--lr X] [--skip-reference] [--verbose] [--perturb]\n",
               argv0);
  return 2;
}

}  // namespace
}  // namespace test
}  // namespace gnas

int main(int argc, char** argv) {
  using namespace gnas;
  using namespace gnas::test;
  std::string desc_path, arch_path, backend = "cuda", desc_text;
  Config cfg;
  bool skip_reference = false;
  for (int i = 1; i < argc; i++) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : std::string(); };
    auto number = [&](int lo, int hi, int& out) {
      const std::string v = value();
      char* end = nullptr;
      const long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n < lo || n > hi) return false;
      out = int(n);
      return true;
    };
    bool ok = true;
    if (a == "--desc") ok = !(desc_path = value()).empty();
    else if (a == "--arch") ok = !(arch_path = value()).empty();
    else if (a == "--backend") ok = !(backend = value()).empty();
    else if (a == "--steps") ok = number(1, 100000, cfg.steps);
    else if (a == "--device") ok = number(0, 1024, cfg.device);
    else if (a == "--threads") ok = number(0, 4096, cfg.threads);
    else if (a == "--skip-reference") skip_reference = true;
    else if (a == "--verbose") cfg.verbose = true;
    else if (a == "--perturb") cfg.perturb = true;
    else if (a == "--lr") {
      const std::string v = value();
      char* end = nullptr;
      const double lr = std::strtod(v.c_str(), &end);
      ok = !v.empty() && *end == '\0' && lr >= 0 && lr < 100;
      cfg.lr = float(lr);
    } else {
      ok = false;
    }
    if (!ok) return usage(argv[0]);
  }
  if (!arch_path.empty() && desc_path.empty()) {
    std::fprintf(stderr, "--arch needs --desc (the built-in space draws its own paths)\n");
    return 2;
  }
  try {
    cfg.space = desc_path.empty() ? builtin_space() : load_space_desc_file(desc_path);
    if (!desc_path.empty()) {
      std::ifstream f(desc_path, std::ios::binary);
      std::ostringstream ss;
      ss << f.rdbuf();
      desc_text = ss.str();
    }
    if (!arch_path.empty()) {
      cfg.arch = load_arch_file(arch_path);
      if (cfg.arch.size() != cfg.space.layers.size())
        throw std::invalid_argument(arch_path + ": " + std::to_string(cfg.arch.size()) + " choices for " +
                                    std::to_string(cfg.space.layers.size()) + " searchable layers");
      for (size_t l = 0; l < cfg.arch.size(); l++)
        if (cfg.arch[l] < 0 || cfg.arch[l] >= int(cfg.space.layers[l].ops.size()))
          throw std::invalid_argument(arch_path + ": choice " + std::to_string(cfg.arch[l]) + " of layer " +
                                      std::to_string(l) + " is out of range");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
  bool built = false;
  for (const auto& n : backend_names()) built = built || n == backend;
  if (!built && backend != "cuda") {  // cuda not built: reported as a SKIP below
    std::fprintf(stderr, "unknown backend '%s'\n", backend.c_str());
    return 2;
  }

  Harness h;
  std::printf("== space '%s': %dx%dx%d input, %zu searchable layers x %zu ops; %d steps of batch %d, lr %g\n",
              cfg.space.name.c_str(), cfg.space.height, cfg.space.width, cfg.space.channels, cfg.space.layers.size(),
              cfg.space.layers[0].ops.size(), cfg.steps, cfg.batch, double(cfg.lr));
  guarded(h, "space_desc_text", [&] { desc_text_checks(h, cfg.space, desc_text); });
  guarded(h, "call arena", [&] { call_arena_checks(h); });

  if (skip_reference) {
    std::printf("SKIP cpu vs reference: --skip-reference\n");
  } else {
    std::printf("== (a) cpu against reference, in lockstep\n");
    guarded(h, "cpu vs reference", [&] { lockstep(h, cfg, "reference", "cpu"); });
  }

  std::string why;
  if (!device_usable(backend, cfg.device, why)) {
    std::printf("SKIP %s trajectory: %s\n", backend.c_str(), why.c_str());
    std::printf("SKIP %s determinism: %s\n", backend.c_str(), why.c_str());
    std::printf("SKIP %s checkpoint: %s\n", backend.c_str(), why.c_str());
  } else {
    std::printf("== (b) %s (device %d, math fp32) against cpu, in lockstep\n", backend.c_str(), cfg.device);
    guarded(h, backend + " vs cpu", [&] { lockstep(h, cfg, "cpu", backend); });
    std::printf("== (c) %s determinism: the same run twice, bit for bit\n", backend.c_str());
    guarded(h, backend + " determinism", [&] { determinism(h, cfg, backend); });
    std::printf("== (d) %s checkpoint round trip through cpu\n", backend.c_str());
    guarded(h, backend + " checkpoint", [&] { checkpoint_checks(h, cfg, backend); });
  }

  std::printf("%d passed, %d failed\n", h.passed, h.failed);
  if (h.passed + h.failed == 0) return 1;
  return h.failed == 0 ? 0 : 1;
}
