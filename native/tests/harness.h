// Shared pieces of the op test harness (gnas_op_tests): the case counter and its output lines,
// the error metric, a seeded RNG and buffer helpers. The test groups live in
// backend_vs_reference.cpp (every fast backend against the reference, op by op) and
// reference_checks.cpp (the reference backward against central finite differences in double,
// plus hand-computed values); main.cpp parses the options and runs them.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/backend.h"

namespace gnas {
namespace test {

// An environment variable set for this object's lifetime (value null: left alone), then put back
// as it was, even when the scope is left by an exception: the test knobs the CPU backend reads
// (GNAS_CPU_SLOW_WORKER_US) must not leak into the checks that follow.
struct ScopedEnv {
  const char* name;
  bool set;
  bool had;
  std::string saved;
  ScopedEnv(const char* n, const char* value) : name(n), set(value != nullptr) {
    const char* old = std::getenv(name);
    had = old != nullptr;
    if (had) saved = old;
    if (set) setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (!set) return;
    if (had) setenv(name, saved.c_str(), 1);
    else unsetenv(name);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;
};

// printf into a std::string (case titles).
inline std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
inline std::string fmt(const char* f, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, f);
  std::vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return buf;
}

struct Harness {
  std::string filter;   // run only cases whose title contains this
  std::string backend;  // empty = all backends
  int threads = 3;      // worker threads of the backends under test
  int device = 0;       // device ordinal of a device backend (cuda)
  int passed = 0, failed = 0;
  // Set for one pass only (main.cpp): the cuda TF32 pass runs just the cases whose title contains
  // one of `only_any` (the dense conv and fc ops, the ones TF32 changes) with every tolerance
  // multiplied by `tol_scale` (TF32 rounds GEMM inputs to a 10-bit mantissa).
  std::vector<std::string> only_any;
  double tol_scale = 1.0;

  bool selected(const std::string& title) const {
    if (!filter.empty() && title.find(filter) == std::string::npos) return false;
    if (only_any.empty()) return true;
    for (const std::string& s : only_any)
      if (title.find(s) != std::string::npos) return true;
    return false;
  }

  // One output line: title, what was compared, error, tolerance, verdict. NaN errors fail.
  bool check(const std::string& title, const std::string& what, double err, double tol) {
    tol *= tol_scale;
    const bool ok = err <= tol;  // false for NaN
    (ok ? passed : failed) += 1;
    std::printf("%-4s %-58s %-12s err %.3e  tol %.1e\n", ok ? "PASS" : "FAIL", title.c_str(), what.c_str(), err, tol);
    std::fflush(stdout);
    return ok;
  }
};

// Relative-to-max-abs error: max_i |got_i - want_i| / max_i |want_i| (absolute where want is all
// zero). Any non-finite value in got where want is finite gives +inf.
template <typename A, typename B>
double rel_max_err(const A* got, const B* want, size_t n) {
  double scale = 0, diff = 0;
  for (size_t i = 0; i < n; ++i) {
    const double g = double(got[i]), w = double(want[i]);
    if (!std::isfinite(g)) return std::numeric_limits<double>::infinity();
    scale = std::max(scale, std::fabs(w));
    diff = std::max(diff, std::fabs(g - w));
  }
  return scale > 0 ? diff / scale : diff;
}
template <typename A, typename B>
double rel_max_err(const std::vector<A>& got, const std::vector<B>& want) {
  if (got.size() != want.size()) return std::numeric_limits<double>::infinity();
  return rel_max_err(got.data(), want.data(), got.size());
}

class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}
  double uniform(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(gen_); }
  double normal() { return std::normal_distribution<double>(0.0, 1.0)(gen_); }
  int integer(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(gen_); }  // inclusive
  template <typename T>
  std::vector<T> normal_vec(size_t n, double scale = 1.0, double offset = 0.0) {
    std::vector<T> v(n);
    for (auto& e : v) e = T(offset + scale * normal());
    return v;
  }
  template <typename T>
  std::vector<T> uniform_vec(size_t n, double lo, double hi) {
    std::vector<T> v(n);
    for (auto& e : v) e = T(uniform(lo, hi));
    return v;
  }

 private:
  std::mt19937_64 gen_;
};

// Output buffers start as NaN so an element a kernel forgets to write fails the comparison.
inline std::vector<float> poisoned(size_t n) { return std::vector<float>(n, std::numeric_limits<float>::quiet_NaN()); }

inline const char* act_name(Act a) {
  switch (a) {
    case Act::None: return "none";
    case Act::ReLU: return "relu";
    case Act::ReLU6: return "relu6";
    case Act::HSwish: return "hswish";
  }
  return "?";
}

// Distance of a pre-activation z from the nearest point where act'(z) jumps (infinite for None).
inline double kink_distance(double z, Act a) {
  switch (a) {
    case Act::None: return std::numeric_limits<double>::infinity();
    case Act::ReLU: return std::fabs(z);
    case Act::ReLU6: return std::min(std::fabs(z), std::fabs(z - 6));
    case Act::HSwish: return std::min(std::fabs(z + 3), std::fabs(z - 3));
  }
  return 0;
}

// Moves x[M][C] until every train-mode BN pre-activation z = gamma * xhat + beta lies at least
// `margin` from a kink of `act`, so that derivatives compared across implementations (or against
// finite differences) are not decided by rounding. Returns false if it could not.
template <typename T>
bool push_bn_off_kinks(std::vector<T>& x, const std::vector<T>& gamma, const std::vector<T>& beta, Act act, int64_t M,
                       int C, double eps, double margin) {
  if (act == Act::None) return true;
  for (int iter = 0; iter < 50; ++iter) {
    bool moved = false;
    for (int c = 0; c < C; ++c) {
      double mu = 0, sq = 0;
      for (int64_t m = 0; m < M; ++m) mu += double(x[size_t(m * C + c)]);
      mu /= double(M);
      for (int64_t m = 0; m < M; ++m) sq += (double(x[size_t(m * C + c)]) - mu) * (double(x[size_t(m * C + c)]) - mu);
      const double is = 1.0 / std::sqrt(sq / double(M) + eps);
      for (int64_t m = 0; m < M; ++m) {
        const double z = double(gamma[size_t(c)]) * (double(x[size_t(m * C + c)]) - mu) * is + double(beta[size_t(c)]);
        if (kink_distance(z, act) < margin) {
          // step x so that z moves by ~4 margins (direction by sign of gamma)
          const double dz_dx = std::fabs(double(gamma[size_t(c)]) * is) + 1e-12;
          x[size_t(m * C + c)] = T(double(x[size_t(m * C + c)]) + 4 * margin / dz_dx);
          moved = true;
        }
      }
    }
    if (!moved) return true;
  }
  return false;
}

}  // namespace test
}  // namespace gnas
