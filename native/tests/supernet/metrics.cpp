// The error measures of gnas_supernet_tests (tolerances in supernet_checks.h).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "tests/supernet/supernet_checks.h"

namespace gnas {
namespace test {
double rel_err(double got, double want) {
  if (!std::isfinite(got)) return kInf;
  const double d = std::fabs(got - want);
  return std::fabs(want) > 0 ? d / std::fabs(want) : d;
}

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

}  // namespace test
}  // namespace gnas
