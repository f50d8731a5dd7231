// Checks (a) and (b) of gnas_supernet_tests: two backends in lockstep.
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
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "tests/supernet/supernet_checks.h"

namespace gnas {
namespace test {
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

}  // namespace test
}  // namespace gnas
