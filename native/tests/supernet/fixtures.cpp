// The seeded fixtures of gnas_supernet_tests: the built-in space, synthetic batches and paths.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/supernet/supernet_checks.h"

namespace gnas {
namespace test {
namespace {
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

}  // namespace

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

SupernetOptions options_for(const Config& cfg, const std::string& backend) {
  SupernetOptions o;
  o.seed = cfg.seed;
  o.threads = cfg.threads;
  o.backend = backend;
  o.device = cfg.device;
  o.math = "fp32";
  // Backends are compared in FP32: the cpu backend would otherwise score in bfloat16 on
  // AVX512-BF16 CPUs (its own checks: bf16_vs_reference in the op tests, test/score-math.test.ts).
  o.score_math = "fp32";
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

}  // namespace test
}  // namespace gnas
