// Check (c) of gnas_supernet_tests: the same seeded run twice on one backend, bit for bit. On the
// CPU the second run has one worker thread sleep before every chunk it takes
// (GNAS_CPU_SLOW_WORKER_US), so the two runs hand their chunks to the threads differently: the
// sums must not depend on that (kernels.h, slot_grain; per-thread partials only in ordered loops).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "tests/supernet/supernet_checks.h"

namespace gnas {
namespace test {
namespace {
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

}  // namespace

void determinism(Harness& h, const Config& cfg, const std::string& backend) {
  const std::string title = backend + " determinism";
  const Run a = free_run(cfg, backend);
  const bool slow = backend == "cpu";
  Run b;
  {
    const ScopedEnv slow_worker("GNAS_CPU_SLOW_WORKER_US", slow ? "300" : nullptr);  // run b only
    b = free_run(cfg, backend);
  }
  std::printf("     two runs: %.2f s, %.2f s%s\n", a.seconds, b.seconds, slow ? " (the second with a slow worker)" : "");
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

}  // namespace test
}  // namespace gnas
