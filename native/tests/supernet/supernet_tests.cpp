// gnas_supernet_tests: whole-supernet checks across backends, on top of the per-op harness
// (gnas_op_tests). Every check trains --steps steps (train_step) on seeded synthetic batches (u8
// and float images alternately, batch 8) along seeded paths, then scores 5 paths (batch and
// running BN), predicts one path's logits and calibrates one path's BN:
//
//   space_desc_text        the text form of the space: format/parse round trip, error line
//                          numbers, arch parsing (no backend involved)
//   (a) cpu vs reference   always (unless --skip-reference)
//   (b) DEVICE vs cpu      --backend (default cuda); where no device is usable it prints
//                          "SKIP cuda trajectory: <why>", which is not a failure
//   (c) DEVICE determinism two independent DEVICE runs, same seed: bit-identical losses, tensors,
//                          momentum buffers, scores, logits, calibrated statistics
//   (d) DEVICE checkpoint  save_checkpoint on a DEVICE supernet, load_checkpoint into a cpu one
//                          and back into a fresh DEVICE one: bit-identical values and momentum
//
// (a) and (b) run the two backends in LOCKSTEP: before every step the second supernet (B) gets
// the first one's (A) exact state (values and momentum, Supernet::write_all), so each step
// compares one step's arithmetic from identical weights, not an accumulated drift. Free-running
// trajectories of two backends cannot be compared honestly: on random data with batch 8 this
// training is chaotic. Measured on W1 (lr 0.05): the cpu backend with 1 thread against itself
// with 2 threads differs by 0.3% in loss after 4 steps and by 77% in stem.bn.bias. Even one
// step's gradients are ill-conditioned: with B one ulp off A (--perturb), a BN bias update moves
// by up to 1.2% (2-norm; 7.5% max-abs), because an activation input sitting within rounding of a
// ReLU6 kink flips its derivative, and a depthwise / BN parameter gradient sums few terms. The
// bit-exact checks (c, d) need no such care.
//
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
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "core/backends.h"
#include "supernet/checkpoint.h"
#include "supernet/space_desc_text.h"
#include "supernet/supernet.h"
#include "tests/harness.h"

namespace gnas {
namespace test {
namespace {

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

// ---------------- the built-in space ----------------
// Mirrors src/space/resolve.ts (resolveOp): "k<k>e<e>[_se]" is an MBConv with mid = cin * e and
// SE width max(1, floor(mid / 4)); "id" is a skip at stride 1 with cin == cout, else a strided
// 1x1 conv (kernel 1, expansion 0).
OpDesc resolve_op(const std::string& name, int cin, int cout, int stride) {
  OpDesc d;
  d.name = name;
  if (name == "id") {
    d.kind = stride == 1 && cin == cout ? OpKind::Skip : OpKind::Conv1x1;
    d.kernel = 1;
    d.expansion = 0;
    return d;
  }
  int k = 0, e = 0;
  char se[8] = {0};
  if (std::sscanf(name.c_str(), "k%de%d%7s", &k, &e, se) < 2) throw std::logic_error("bad op name " + name);
  d.kind = OpKind::MBConv;
  d.kernel = k;
  d.expansion = e;
  d.se = std::string(se) == "_se";
  d.mid = cin * e;
  d.se_width = d.se ? std::max(1, d.mid / 4) : 0;
  return d;
}

int out_size(int size, int stride) { return (size + 2 - 3) / stride + 1; }  // resolve.ts outSize(size, 3, s)

// 15 x 13 input (odd, non-square: H/W mix-ups and odd stride-2 tails show), 4 searchable layers,
// 7 ops each covering k3/k5/k7, e1/e3/e6, SE with and without expansion, and the identity as a
// skip (stride-1 layers) and as a strided 1x1 conv (layers 0 and 2, stride 2 and a width change).
SpaceDesc builtin_space() {
  SpaceDesc sp;
  sp.name = "supernet-tests builtin";
  sp.height = 15;
  sp.width = 13;
  sp.channels = 3;
  sp.classes = 10;
  sp.act = Act::HSwish;
  sp.bn_eps = 1e-5f;
  sp.bn_momentum = 0.1f;
  sp.mean = {0.5f, 0.45f, 0.4f};
  sp.std = {0.25f, 0.24f, 0.26f};
  sp.stem = StemDesc{3, 8, 3, 1, 15, 13, 15, 13};
  int c = 8, h = 15, w = 13;
  auto layer = [&](int cout, int stride, const std::vector<std::string>& ops) {
    LayerDesc l;
    l.cin = c;
    l.cout = cout;
    l.stride = stride;
    l.height = h;
    l.width = w;
    l.out_height = out_size(h, stride);
    l.out_width = out_size(w, stride);
    for (const auto& o : ops) l.ops.push_back(resolve_op(o, c, cout, stride));
    c = cout;
    h = l.out_height;
    w = l.out_width;
    return l;
  };
  sp.fixed.push_back(layer(8, 1, {"k3e1"}));
  const std::vector<std::string> ops = {"k3e1", "k5e3", "k7e6", "k3e3_se", "k5e6_se", "k7e1_se", "id"};
  sp.layers.push_back(layer(16, 2, ops));  // 15x13 -> 8x7, id = conv1x1
  sp.layers.push_back(layer(16, 1, ops));  // id = skip
  sp.layers.push_back(layer(24, 2, ops));  // 8x7 -> 4x4, id = conv1x1
  sp.layers.push_back(layer(24, 1, ops));  // id = skip
  sp.head_cin = c;
  sp.head_cout = 64;
  sp.head_height = h;
  sp.head_width = w;
  return sp;
}

// ---------------- data and paths ----------------
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

Data make_data(const SpaceDesc& sp, int n, uint64_t seed, bool as_float) {
  Mix r(seed);
  Data d;
  const size_t px = size_t(n) * sp.height * sp.width * sp.channels;
  if (as_float) {
    d.f32.resize(px);
    for (auto& v : d.f32) v = float(double(r.next() >> 11) * (1.0 / 9007199254740992.0));
  } else {
    d.u8.resize(px);
    for (auto& v : d.u8) v = uint8_t(r.next() >> 56);
  }
  d.labels.resize(size_t(n));
  for (auto& l : d.labels) l = r.below(sp.classes);
  return d;
}

std::vector<int> random_path(const SpaceDesc& sp, Mix& r) {
  std::vector<int> p;
  for (const LayerDesc& l : sp.layers) p.push_back(r.below(int(l.ops.size())));
  return p;
}

// ---------------- configuration ----------------
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

SupernetOptions options_for(const Config& cfg, const std::string& backend) {
  SupernetOptions o;
  o.seed = cfg.seed;
  o.threads = cfg.threads;
  o.backend = backend;
  o.device = cfg.device;
  o.math = "fp32";
  return o;
}

// The path of step `step`: a random one drawn every step (so the sequence does not depend on
// --arch), replaced by --arch on even steps.
std::vector<int> step_path(const Config& cfg, int step, Mix& r) {
  std::vector<int> p = random_path(cfg.space, r);
  if (!cfg.arch.empty() && step % 2 == 0) p = cfg.arch;
  return p;
}

Data step_data(const Config& cfg, int step) { return make_data(cfg.space, cfg.batch, cfg.seed * 7919 + uint64_t(step), step % 2 == 1); }

// The evaluation paths (--arch first) and batch.
std::vector<std::vector<int>> eval_archs(const Config& cfg) {
  Mix r(cfg.seed * 31 + 5);
  std::vector<std::vector<int>> archs;
  if (!cfg.arch.empty()) archs.push_back(cfg.arch);
  while (int(archs.size()) < cfg.eval_paths) archs.push_back(random_path(cfg.space, r));
  return archs;
}
Data eval_data(const Config& cfg) { return make_data(cfg.space, cfg.eval_batch, cfg.seed * 104729 + 3, false); }
std::vector<Data> calibration_data(const Config& cfg) {
  return {make_data(cfg.space, cfg.batch, cfg.seed * 15485863 + 1, false),
          make_data(cfg.space, cfg.batch, cfg.seed * 15485863 + 2, true)};
}
std::vector<Batch> batches(const std::vector<Data>& d) {
  std::vector<Batch> b;
  for (const Data& x : d) b.push_back(x.batch());
  return b;
}

// ---------------- metrics ----------------
constexpr double kInf = std::numeric_limits<double>::infinity();

double rel_err(double got, double want) {
  if (!std::isfinite(got)) return kInf;
  const double d = std::fabs(got - want);
  return std::fabs(want) > 0 ? d / std::fabs(want) : d;
}

// max|got - want| / max(max|want|, floor); non-finite got: infinity.
double floored_err(const float* got, const float* want, size_t n, double floor) {
  double scale = floor, diff = 0;
  for (size_t i = 0; i < n; i++) {
    if (!std::isfinite(got[i])) return kInf;
    scale = std::max(scale, double(std::fabs(want[i])));
    diff = std::max(diff, std::fabs(double(got[i]) - double(want[i])));
  }
  return diff / scale;
}
double floored_err(const std::vector<float>& got, const std::vector<float>& want, double floor) {
  return got.size() == want.size() ? floored_err(got.data(), want.data(), got.size(), floor) : kInf;
}

// The change one step made to a tensor, B against A from the same `before`: the sums of squares
// of dA and of dB - dA (infinite when B is not finite).
struct DeltaSums {
  double a2 = 0, d2 = 0;
};
DeltaSums delta_sums(const float* after_b, const float* after_a, const float* before, size_t n) {
  DeltaSums r;
  for (size_t i = 0; i < n; i++) {
    if (!std::isfinite(after_b[i])) {
      r.d2 = kInf;
      return r;
    }
    const double da = double(after_a[i]) - double(before[i]), dd = double(after_b[i]) - double(after_a[i]);
    r.a2 += da * da;
    r.d2 += dd * dd;
  }
  return r;
}

bool bit_equal(const float* a, const float* b, size_t n) { return n == 0 || std::memcmp(a, b, n * sizeof(float)) == 0; }
bool bit_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && bit_equal(a.data(), b.data(), a.size());
}

// Whether a tensor belongs to a path: "layers.<l>.<j>.*" only when arch[l] == j; everything else
// (stem, fixed blocks, head, fc) is on every path.
bool on_path(const std::string& name, const std::vector<int>& arch) {
  int l = -1, j = -1;
  if (std::sscanf(name.c_str(), "layers.%d.%d.", &l, &j) != 2) return true;
  return l >= 0 && size_t(l) < arch.size() && arch[size_t(l)] == j;
}

void check_scores(Harness& h, const std::string& title, const std::string& what, const std::vector<PathScore>& got,
                  const std::vector<PathScore>& want, bool exact) {
  if (got.size() != want.size()) {
    h.check(title, what + " count", kInf, 0);
    return;
  }
  double lerr = 0;
  int64_t cdiff = 0;
  for (size_t i = 0; i < got.size(); i++) {
    lerr = std::max(lerr, exact ? (got[i].loss == want[i].loss ? 0.0 : kInf) : rel_err(got[i].loss, want[i].loss));
    cdiff = std::max<int64_t>(cdiff, std::llabs(got[i].correct - want[i].correct));
  }
  h.check(title, what + " loss", lerr, exact ? 0 : kLossTol);
  h.check(title, what + " correct", double(cdiff), exact ? 0 : kCorrectTol);
}

// The two host accessors of the store agree: read(id) against read_all_values() at the offsets.
double accessor_mismatch(const Supernet& net) {
  const TensorStore& st = net.store();
  const std::vector<float> all = st.read_all_values();
  double bad = 0;
  std::vector<float> one;
  for (size_t id = 0; id < st.entries().size(); id++) {
    const TensorEntry& e = st.entries()[id];
    if (e.offset < 0 || e.offset + e.size > int64_t(all.size())) return kInf;
    one.assign(size_t(e.size), std::numeric_limits<float>::quiet_NaN());
    st.read(int(id), one.data());
    bad += !bit_equal(all.data() + e.offset, one.data(), one.size());
  }
  return bad;
}

// ---------------- (a), (b): two backends in lockstep ----------------
void lockstep(Harness& h, const Config& cfg, const std::string& name_a, const std::string& name_b) {
  const std::string title = name_b + " vs " + name_a;
  const auto t0 = std::chrono::steady_clock::now();
  Supernet A(cfg.space, options_for(cfg, name_a));
  Supernet B(cfg.space, options_for(cfg, name_b));
  const std::vector<TensorEntry>& ents = A.store().entries();
  bool same_layout = A.store().total() == B.store().total() && ents.size() == B.store().entries().size();
  for (size_t i = 0; same_layout && i < ents.size(); i++) {
    const TensorEntry& eb = B.store().entries()[i];
    same_layout = ents[i].name == eb.name && ents[i].offset == eb.offset && ents[i].size == eb.size;
  }
  if (!h.check(title, "same tensor layout", same_layout ? 0 : kInf, 0)) return;
  h.check(title, "store accessors", accessor_mismatch(A) + accessor_mismatch(B), 0);
  // the seeded initialisation is computed on the host: identical on every backend
  h.check(title, "init bitwise", bit_equal(A.store().read_all_values(), B.store().read_all_values()) ? 0 : 1, 0);

  Mix paths(cfg.seed * 1000003 + 11);
  int64_t correct_diff = 0;
  int off_changed = 0;
  for (int s = 0; s < cfg.steps; s++) {
    const std::vector<float> before = A.store().read_all_values(), vel = A.store().read_all_velocities();
    // B's state before the step: A's, or with --perturb one ulp away (magnitudes up)
    std::vector<float> before_b = before;
    if (cfg.perturb)
      for (float& x : before_b) x = std::nextafter(x, 2 * x);
    B.write_all(before_b.data(), vel.data());
    const std::vector<int> path = step_path(cfg, s, paths);
    const Data d = step_data(cfg, s);
    const StepResult ra = A.train_step(path, d.batch(), cfg.lr);
    const StepResult rb = B.train_step(path, d.batch(), cfg.lr);
    h.check(title, fmt("step %d loss", s), rel_err(rb.loss, ra.loss), kLossTol);
    correct_diff = std::max<int64_t>(correct_diff, std::llabs(rb.correct - ra.correct));
    const std::vector<float> after_a = A.store().read_all_values(), after_b = B.store().read_all_values();
    double worst = 0, all_a2 = 0, all_d2 = 0;
    std::string worst_name = "-";
    int updated = 0;
    for (const TensorEntry& e : ents) {
      const float* pa = before.data() + e.offset;
      const float* pb = before_b.data() + e.offset;
      const float* qa = after_a.data() + e.offset;
      const float* qb = after_b.data() + e.offset;
      const size_t n = size_t(e.size);
      if (!on_path(e.name, path)) {
        const bool a_moved = !bit_equal(qa, pa, n), b_moved = !bit_equal(qb, pb, n);
        if ((a_moved || b_moved) && off_changed++ < 8)
          std::printf("     step %d: off-path tensor %s changed on%s%s\n", s, e.name.c_str(),
                      a_moved ? (" " + name_a).c_str() : "", b_moved ? (" " + name_b).c_str() : "");
        continue;
      }
      updated++;
      const DeltaSums ds = delta_sums(qb, qa, pa, n);
      all_a2 += ds.a2;
      all_d2 += ds.d2;
      const double err = std::sqrt(ds.d2) / std::max(std::sqrt(ds.a2), kDeltaFloor * std::sqrt(double(n)));
      if (!(err <= worst)) {  // NaN counts as worst
        worst = err;
        worst_name = e.name;
      }
    }
    h.check(title, fmt("step %d update", s), all_a2 > 0 ? std::sqrt(all_d2 / all_a2) : kInf, kStepUpdateTol);
    h.check(title, fmt("step %d tensor updates", s), worst, kUpdateTol);
    if (cfg.verbose || !(worst <= kUpdateTol / 10))
      std::printf("     step %d: %d tensors on the path, worst %s (%.3e)\n", s, updated, worst_name.c_str(), worst);
  }
  h.check(title, "step correct counts", double(correct_diff), kCorrectTol);
  h.check(title, "off-path tensors unchanged", double(off_changed), 0);

  // scoring, prediction and calibration, from one shared state
  {
    const std::vector<float> v = A.store().read_all_values(), m = A.store().read_all_velocities();
    B.write_all(v.data(), m.data());
  }
  const std::vector<std::vector<int>> archs = eval_archs(cfg);
  const Data e = eval_data(cfg);
  check_scores(h, title, "scores(batch BN)", B.evaluate(archs, e.batch(), BnMode::Batch),
               A.evaluate(archs, e.batch(), BnMode::Batch), false);
  check_scores(h, title, "scores(running BN)", B.evaluate(archs, e.batch(), BnMode::Running),
               A.evaluate(archs, e.batch(), BnMode::Running), false);
  const size_t nl = size_t(cfg.eval_batch) * size_t(cfg.space.classes);
  std::vector<float> la(nl, std::numeric_limits<float>::quiet_NaN()), lb = la;
  A.predict(archs[0], e.batch(), BnMode::Running, la.data());
  B.predict(archs[0], e.batch(), BnMode::Running, lb.data());
  h.check(title, "logits(running BN)", rel_max_err(lb, la), kForwardTol);
  const std::vector<Data> cal = calibration_data(cfg);
  A.calibrate_bn(archs[0], batches(cal));
  B.calibrate_bn(archs[0], batches(cal));
  double cal_err = 0;
  for (int id : A.path_buffer_ids(archs[0])) {
    const size_t n = size_t(ents[size_t(id)].size);
    std::vector<float> va(n), vb(n, std::numeric_limits<float>::quiet_NaN());
    A.store().read(id, va.data());
    B.store().read(id, vb.data());
    cal_err = std::max(cal_err, floored_err(vb, va, kTensorFloor));
  }
  h.check(title, "calibrated BN statistics", cal_err, kStatsTol);
  check_scores(h, title, "scores(calibrated)", B.evaluate({archs[0]}, e.batch(), BnMode::Running),
               A.evaluate({archs[0]}, e.batch(), BnMode::Running), false);
  std::printf("     %s and %s: %.2f s together\n", name_a.c_str(), name_b.c_str(),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

// ---------------- (c): one backend twice, bit for bit ----------------
struct Run {
  std::vector<double> loss;
  std::vector<int64_t> correct;
  std::vector<float> values, velocities;
  std::vector<PathScore> scores_batch, scores_running, scores_calibrated;
  std::vector<float> logits, calibrated;  // the arena after calibration
  double seconds = 0;
};

Run free_run(const Config& cfg, const std::string& backend) {
  const auto t0 = std::chrono::steady_clock::now();
  Run r;
  Supernet net(cfg.space, options_for(cfg, backend));
  Mix paths(cfg.seed * 1000003 + 11);
  for (int s = 0; s < cfg.steps; s++) {
    const Data d = step_data(cfg, s);
    const StepResult x = net.train_step(step_path(cfg, s, paths), d.batch(), cfg.lr);
    r.loss.push_back(x.loss);
    r.correct.push_back(x.correct);
  }
  r.values = net.store().read_all_values();
  r.velocities = net.store().read_all_velocities();
  const std::vector<std::vector<int>> archs = eval_archs(cfg);
  const Data e = eval_data(cfg);
  r.scores_batch = net.evaluate(archs, e.batch(), BnMode::Batch);
  r.scores_running = net.evaluate(archs, e.batch(), BnMode::Running);
  r.logits.assign(size_t(cfg.eval_batch) * size_t(cfg.space.classes), std::numeric_limits<float>::quiet_NaN());
  net.predict(archs[0], e.batch(), BnMode::Running, r.logits.data());
  net.calibrate_bn(archs[0], batches(calibration_data(cfg)));
  r.scores_calibrated = net.evaluate({archs[0]}, e.batch(), BnMode::Running);
  r.calibrated = net.store().read_all_values();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

void determinism(Harness& h, const Config& cfg, const std::string& backend) {
  const std::string title = backend + " determinism";
  const Run a = free_run(cfg, backend);
  const Run b = free_run(cfg, backend);
  std::printf("     two runs: %.2f s, %.2f s\n", a.seconds, b.seconds);
  int steps_differ = 0;
  for (size_t s = 0; s < a.loss.size() && s < b.loss.size(); s++)
    steps_differ += a.loss[s] != b.loss[s] || a.correct[s] != b.correct[s];
  h.check(title, "step losses", a.loss.size() == b.loss.size() ? double(steps_differ) : kInf, 0);
  h.check(title, "tensors", bit_equal(a.values, b.values) ? 0 : 1, 0);
  h.check(title, "momentum buffers", bit_equal(a.velocities, b.velocities) ? 0 : 1, 0);
  check_scores(h, title, "scores(batch BN)", b.scores_batch, a.scores_batch, true);
  check_scores(h, title, "scores(running BN)", b.scores_running, a.scores_running, true);
  h.check(title, "logits", bit_equal(a.logits, b.logits) ? 0 : 1, 0);
  check_scores(h, title, "scores(calibrated)", b.scores_calibrated, a.scores_calibrated, true);
  h.check(title, "calibrated tensors", bit_equal(a.calibrated, b.calibrated) ? 0 : 1, 0);
}

// ---------------- checks without a backend, and (d) ----------------
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

void expect_error(Harness& h, const std::string& what, const std::function<void()>& f, const std::string& prefix) {
  std::string msg = "(no error)";
  bool ok = false;
  try {
    f();
  } catch (const std::invalid_argument& e) {
    msg = e.what();
    ok = msg.compare(0, prefix.size(), prefix) == 0;
  } catch (const std::exception& e) {
    msg = std::string("wrong exception type: ") + e.what();
  }
  if (!ok) std::printf("     expected an error starting '%s', got: %s\n", prefix.c_str(), msg.c_str());
  h.check("space_desc_text", what, ok ? 0 : 1, 0);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  size_t p = 0;
  while (p < text.size()) {
    size_t nl = text.find('\n', p);
    if (nl == std::string::npos) nl = text.size();
    out.push_back(text.substr(p, nl - p));
    p = nl + 1;
  }
  return out;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}

// file_text: the --desc file's contents (empty for the built-in space). A file written by
// src/native/space-desc-text.ts must be exactly what format_space_desc_text writes.
void desc_text_checks(Harness& h, const SpaceDesc& space, const std::string& file_text) {
  const std::string T = "space_desc_text";
  const std::string text = format_space_desc_text(space);
  const SpaceDesc back = parse_space_desc_text(text);
  h.check(T, "round trip", format_space_desc_text(back) == text ? 0 : 1, 0);
  if (!file_text.empty()) {
    const std::string header = lines_of(text)[0] + "\n";  // the writers' comment line
    if (file_text.compare(0, header.size(), header) == 0) h.check(T, "file == C++ writer", file_text == text ? 0 : 1, 0);
    return;
  }
  // errors name the line (1-based, comments and blank lines counted)
  const std::vector<std::string> L = lines_of(text);
  auto find_line = [&](const std::string& rec) {
    for (size_t i = 0; i < L.size(); i++)
      if (L[i].compare(0, rec.size() + 1, rec + " ") == 0) return i;
    throw std::logic_error("no " + rec + " line");
  };
  auto with = [&](size_t i, const std::string& repl) {
    std::vector<std::string> c = L;
    c[i] = repl;
    return join_lines(c);
  };
  auto line = [](size_t i) { return "line " + std::to_string(i + 1) + ":"; };
  const size_t magic = find_line("gnas-space-desc"), stem = find_line("stem"), input = find_line("input");
  const size_t first_layer = find_line("layer");
  expect_error(h, "error: version", [&] { parse_space_desc_text(with(magic, "gnas-space-desc 2")); }, line(magic));
  expect_error(h, "error: value count", [&] { parse_space_desc_text(with(stem, "stem 3 8 3 1 15 13 15")); }, line(stem));
  expect_error(h, "error: bad integer", [&] { parse_space_desc_text(with(input, "input 15 x 3 10")); }, line(input));
  expect_error(h, "error: unknown record", [&] { parse_space_desc_text(with(input, "inptu 15 13 3 10")); }, line(input));
  {
    std::vector<std::string> c = L;
    c.erase(c.begin() + long(first_layer) + 1);  // one op fewer than declared: the next record is the error
    expect_error(h, "error: missing op", [&] { parse_space_desc_text(join_lines(c)); }, line(first_layer + 7));
  }
  {
    std::vector<std::string> c = L;
    c.pop_back();  // head
    expect_error(h, "error: missing head", [&] { parse_space_desc_text(join_lines(c)); }, "end of input");
  }
  expect_error(h, "error: inconsistent sizes", [&] { parse_space_desc_text(with(stem, "stem 3 9 3 1 15 13 15 13")); },
               "inconsistent space description");
  // archs: plain text, JSON array, JSON object with other members
  h.check(T, "arch text", parse_arch_text("# c\n0 1,2\n 3\n") == std::vector<int>{0, 1, 2, 3} ? 0 : 1, 0);
  h.check(T, "arch json array", parse_arch_text(" [3, 4]\n") == std::vector<int>{3, 4} ? 0 : 1, 0);
  h.check(T, "arch json object",
          parse_arch_text("{\"comment\": \"not \\\"arch\\\": [9]\", \"x\": {\"arch\": [7]}, \"arch\": [1, 2]}") ==
                  std::vector<int>{1, 2}
              ? 0
              : 1,
          0);
  expect_error(h, "error: arch text", [&] { parse_arch_text("0 1 x"); }, "line 1:");
  expect_error(h, "error: empty arch", [&] { parse_arch_text("# nothing\n"); }, "arch:");
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

void checkpoint_checks(Harness& h, const Config& cfg, const std::string& dev) {
  const std::string T = "checkpoint " + dev + " -> cpu -> " + dev;
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("gnas_supernet_tests-" + std::to_string(::getpid()) + ".ckpt")).string();
  struct Cleanup {
    std::string p;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove(p, ec);
    }
  } cleanup{path};
  Supernet a(cfg.space, options_for(cfg, dev));
  Mix r(cfg.seed + 99);
  for (int s = 0; s < 3; s++) {
    const Data d = make_data(cfg.space, cfg.batch, 4242 + uint64_t(s), false);
    a.train_step(random_path(cfg.space, r), d.batch(), cfg.lr);
  }
  const std::string extra = "{\"state\": \"caller bytes \\u00e9\"}";
  save_checkpoint(a, path, extra);
  Config other = cfg;
  other.seed = cfg.seed + 1;  // different initial values: the load must replace them all
  Supernet b(cfg.space, options_for(other, "cpu"));
  h.check(T, "extra string", load_checkpoint(b, path) == extra ? 0 : 1, 0);
  h.check(T, "values " + dev + " -> cpu", bit_equal(a.store().read_all_values(), b.store().read_all_values()) ? 0 : 1, 0);
  h.check(T, "momentum " + dev + " -> cpu",
          bit_equal(a.store().read_all_velocities(), b.store().read_all_velocities()) ? 0 : 1, 0);
  const Data e = make_data(cfg.space, cfg.eval_batch, 777, false);
  Mix er(5);
  const std::vector<std::vector<int>> archs = {random_path(cfg.space, er), random_path(cfg.space, er)};
  check_scores(h, T, "scores " + dev + " vs cpu", b.evaluate(archs, e.batch(), BnMode::Running),
               a.evaluate(archs, e.batch(), BnMode::Running), false);
  // and back: cpu -> a fresh device supernet
  save_checkpoint(b, path, extra);
  Supernet c(cfg.space, options_for(other, dev));
  load_checkpoint(c, path);
  h.check(T, "values cpu -> " + dev, bit_equal(b.store().read_all_values(), c.store().read_all_values()) ? 0 : 1, 0);
  h.check(T, "momentum cpu -> " + dev,
          bit_equal(b.store().read_all_velocities(), c.store().read_all_velocities()) ? 0 : 1, 0);
  // a loaded supernet trains on: one step from the same state gives the same loss on both
  const Data d = make_data(cfg.space, cfg.batch, 9001, false);
  const std::vector<int> p = random_path(cfg.space, r);
  const double la = a.train_step(p, d.batch(), cfg.lr).loss, lc = c.train_step(p, d.batch(), cfg.lr).loss;
  h.check(T, "next step loss", rel_err(lc, la), 0);  // same backend, same state, same batch: bit-identical
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
