// Check (d) of gnas_supernet_tests: a checkpoint from a device supernet into a cpu one and back.
#include <unistd.h>

#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "tests/supernet/supernet_checks.h"

namespace gnas {
namespace test {
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
  a.save_checkpoint(path, extra);
  Config other = cfg;
  other.seed = cfg.seed + 1;  // different initial values: the load must replace them all
  Supernet b(cfg.space, options_for(other, "cpu"));
  h.check(T, "extra string", b.load_checkpoint(path) == extra ? 0 : 1, 0);
  h.check(T, "values " + dev + " -> cpu", bit_equal(a.store().read_all_values(), b.store().read_all_values()) ? 0 : 1, 0);
  h.check(T, "momentum " + dev + " -> cpu",
          bit_equal(a.store().read_all_velocities(), b.store().read_all_velocities()) ? 0 : 1, 0);
  const Data e = make_data(cfg.space, cfg.eval_batch, 777, false);
  Mix er(5);
  const std::vector<std::vector<int>> archs = {random_path(cfg.space, er), random_path(cfg.space, er)};
  check_scores(h, T, "scores " + dev + " vs cpu", b.evaluate(archs, e.batch(), BnMode::Running),
               a.evaluate(archs, e.batch(), BnMode::Running), false);
  // and back: cpu -> a fresh device supernet
  b.save_checkpoint(path, extra);
  Supernet c(cfg.space, options_for(other, dev));
  c.load_checkpoint(path);
  h.check(T, "values cpu -> " + dev, bit_equal(b.store().read_all_values(), c.store().read_all_values()) ? 0 : 1, 0);
  h.check(T, "momentum cpu -> " + dev,
          bit_equal(b.store().read_all_velocities(), c.store().read_all_velocities()) ? 0 : 1, 0);
  // a loaded supernet trains on: one step from the same state gives the same loss on both
  const Data d = make_data(cfg.space, cfg.batch, 9001, false);
  const std::vector<int> p = random_path(cfg.space, r);
  const double la = a.train_step(p, d.batch(), cfg.lr).loss, lc = c.train_step(p, d.batch(), cfg.lr).loss;
  h.check(T, "next step loss", rel_err(lc, la), 0);  // same backend, same state, same batch: bit-identical
}

}  // namespace test
}  // namespace gnas
