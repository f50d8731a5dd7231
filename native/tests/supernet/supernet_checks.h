// Shared pieces of gnas_supernet_tests (supernet_tests.cpp has the usage and the list of checks):
// the tolerances, the seeded fixtures (space, batches, paths), the metrics, and the check groups,
// one file each: lockstep.cpp (a, b), determinism.cpp (c), checkpoint_checks.cpp (d),
// space_desc_text_checks.cpp, call_arena_checks.cpp.
#pragma once
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "parallel/supernet.h"
#include "tests/harness.h"

namespace gnas {
namespace test {

// Tolerances of (a) and (b), with what cpu vs reference measured on W1 over 20 steps (the
// built-in space: about 10x less), errors relative:
//   step loss            kLossTol 1e-4        |lB - lA| / |lA|                    measured 1e-7
//   step update          kStepUpdateTol 1e-2  ||dB - dA|| / ||dA|| over every     measured 7.6e-4
//                                             tensor on the path, d = the change
//                                             the step made (SGD update, BN
//                                             running statistics)
//   step tensor updates  kUpdateTol 1e-1      the same per tensor, the norm of   measured 1.5e-2
//                                             dA floored at kDeltaFloor (1e-4)
//                                             RMS: some tensors only receive
//                                             rounding noise, e.g. the bias of a
//                                             BN feeding a conv and another
//                                             train-mode BN (zero gradient)
//   off-path tensors     bit-identical before and after every step, on both backends (no
//                        gradient, no momentum, no weight decay off the path)
//   scores               loss kLossTol, correct counts within kCorrectTol (1: a near-tie of two
//                        logits may flip an image), from one shared state
//   logits               kForwardTol 1e-3 (max-abs relative)                     measured 3e-7
//   calibrated BN stats  kStatsTol 5e-3 per tensor (floor kTensorFloor 1e-3:     measured 1.2e-4
//                        running means of zero-mean inputs hold rounding noise)
// Per-op precision is gnas_op_tests' job; these tolerances catch whole-network mistakes (a wrong
// buffer, a missing gradient, a wrong BN mode), which give O(1) errors.

constexpr double kLossTol = 1e-4;
constexpr double kUpdateTol = 1e-1;
constexpr double kStepUpdateTol = 1e-2;
constexpr double kDeltaFloor = 1e-4;
constexpr double kForwardTol = 1e-3;
constexpr double kStatsTol = 5e-3;
constexpr double kTensorFloor = 1e-3;
constexpr int kCorrectTol = 1;

// splitmix64: the same paths and images on every platform and build.
struct Mix {
  uint64_t s;
  explicit Mix(uint64_t seed) : s(seed) {}
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  int below(int n) { return int(next() % uint64_t(n)); }
};

// ---------------- the built-in space (fixtures.cpp) ----------------
SpaceDesc builtin_space();

// ---------------- data and paths (fixtures.cpp) ----------------
struct Data {
  std::vector<uint8_t> u8;
  std::vector<float> f32;
  std::vector<int32_t> labels;
  Batch batch() const {
    Batch b;
    b.u8 = u8.empty() ? nullptr : u8.data();
    b.f32 = f32.empty() ? nullptr : f32.data();
    b.labels = labels.data();
    b.n = int(labels.size());
    return b;
  }
};

Data make_data(const SpaceDesc& sp, int n, uint64_t seed, bool as_float);
std::vector<int> random_path(const SpaceDesc& sp, Mix& r);

// ---------------- configuration (fixtures.cpp) ----------------
struct Config {
  SpaceDesc space;
  std::vector<int> arch;  // empty: random paths only
  int steps = 20;
  int batch = 8;
  int eval_batch = 16;
  int eval_paths = 5;
  uint64_t seed = 7;
  float lr = 0.05f;
  int threads = 0;
  int device = 0;
  bool verbose = false;  // every step's worst tensor, not only the suspicious ones
  bool perturb = false;  // lockstep with B one ulp off A: the sensitivity floor of the tolerances
};

SupernetOptions options_for(const Config& cfg, const std::string& backend);
// The path of step `step`: a random one drawn every step (so the sequence does not depend on
// --arch), replaced by --arch on even steps.
std::vector<int> step_path(const Config& cfg, int step, Mix& r);
Data step_data(const Config& cfg, int step);
// The evaluation paths (--arch first) and batch.
std::vector<std::vector<int>> eval_archs(const Config& cfg);
Data eval_data(const Config& cfg);
std::vector<Data> calibration_data(const Config& cfg);
std::vector<Batch> batches(const std::vector<Data>& d);

// ---------------- metrics (metrics.cpp) ----------------
constexpr double kInf = std::numeric_limits<double>::infinity();

double rel_err(double got, double want);
// max|got - want| / max(max|want|, floor); non-finite got: infinity.
double floored_err(const float* got, const float* want, size_t n, double floor);
double floored_err(const std::vector<float>& got, const std::vector<float>& want, double floor);
// The change one step made to a tensor, B against A from the same `before`: the sums of squares
// of dA and of dB - dA (infinite when B is not finite).
struct DeltaSums {
  double a2 = 0, d2 = 0;
};
DeltaSums delta_sums(const float* after_b, const float* after_a, const float* before, size_t n);
bool bit_equal(const float* a, const float* b, size_t n);
bool bit_equal(const std::vector<float>& a, const std::vector<float>& b);
// Whether a tensor belongs to a path: "layers.<l>.<j>.*" only when arch[l] == j; everything else
// (stem, fixed blocks, head, fc) is on every path.
bool on_path(const std::string& name, const std::vector<int>& arch);
void check_scores(Harness& h, const std::string& title, const std::string& what, const std::vector<PathScore>& got,
                  const std::vector<PathScore>& want, bool exact);
// The two host accessors of the store agree: read(id) against read_all_values() at the offsets.
double accessor_mismatch(const Supernet& net);

// ---------------- the check groups ----------------
void lockstep(Harness& h, const Config& cfg, const std::string& name_a, const std::string& name_b);  // (a), (b)
void determinism(Harness& h, const Config& cfg, const std::string& backend);                        // (c)
void checkpoint_checks(Harness& h, const Config& cfg, const std::string& dev);                      // (d)
// file_text: the --desc file's contents (empty for the built-in space). A file written by
// src/native/space-desc-text.ts must be exactly what format_space_desc_text writes.
void desc_text_checks(Harness& h, const SpaceDesc& space, const std::string& file_text);
// The per-call buffer arena (supernet/tensor_store.h), on the CPU backend.
void call_arena_checks(Harness& h);

}  // namespace test
}  // namespace gnas
