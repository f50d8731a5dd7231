// Parameter registration (every tensor of the supernet, named as in docs/parameters.md, and the
// unit/block records that address them) and their seeded initialisation.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "supernet/supernet_impl.h"

namespace gnas {

using namespace detail;

namespace {

// splitmix64: small, seedable, identical on every platform (std::normal_distribution is not).
struct InitRng {
  uint64_t s;
  explicit InitRng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 0x1234567ull) {}
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }
  double normal() {
    double u1 = uniform(), u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
};

}  // namespace

// ---------------- registration ----------------
BnIds Replica::Impl::add_bn(const std::string& p, int C) {
  BnIds b;
  b.C = C;
  b.gamma = st.add(p + ".weight", {C}, TensorKind::Param, false);
  b.beta = st.add(p + ".bias", {C}, TensorKind::Param, false);
  b.mean = st.add(p + ".running_mean", {C}, TensorKind::Buffer, false);
  b.var = st.add(p + ".running_var", {C}, TensorKind::Buffer, false);
  return b;
}

ConvUnit Replica::Impl::add_conv(const std::string& p, int cin, int cout, int k, int stride, int H, int W, Act act,
                                  bool dw, std::vector<int>* ids) {
  ConvUnit u;
  u.depthwise = dw;
  u.act = act;
  u.shape.H = H;
  u.shape.W = W;
  u.shape.C = cin;
  u.shape.K = cout;
  u.shape.k = k;
  u.shape.stride = stride;
  u.shape.pad = k / 2;
  u.shape.finish();
  if (dw) {
    u.w = st.add(p + ".conv.weight", {k, k, cin}, TensorKind::Param, true);
  } else if (k == 1) {
    u.w = st.add(p + ".conv.weight", {cout, cin}, TensorKind::Param, true);
  } else {
    u.w = st.add(p + ".conv.weight", {cout, k, k, cin}, TensorKind::Param, true);
  }
  u.bn = add_bn(p + ".bn", cout);
  if (ids) {
    for (int id : {u.w, u.bn.gamma, u.bn.beta, u.bn.mean, u.bn.var}) ids->push_back(id);
  }
  return u;
}

OpUnits Replica::Impl::add_op(const std::string& p, const LayerDesc& l, const OpDesc& op) {
  OpUnits u;
  u.kind = op.kind;
  Act act = net.space_.act;
  if (op.kind == OpKind::Skip) return u;
  if (op.kind == OpKind::Conv1x1) {
    u.reduce = add_conv(p, l.cin, l.cout, 1, l.stride, l.height, l.width, Act::None, false, &u.tensor_ids);
    return u;
  }
  int mid = op.mid;
  u.has_expand = op.expansion != 1;
  if (u.has_expand) u.expand = add_conv(p + ".expand", l.cin, mid, 1, 1, l.height, l.width, act, false, &u.tensor_ids);
  u.dw = add_conv(p + ".dw", mid, mid, op.kernel, l.stride, l.height, l.width, act, true, &u.tensor_ids);
  if (op.se) {
    u.has_se = true;
    u.se.C = mid;
    u.se.R = op.se_width;
    u.se.HW = l.out_height * l.out_width;
    u.se.w1 = st.add(p + ".se.fc1.weight", {op.se_width, mid}, TensorKind::Param, true);
    u.se.b1 = st.add(p + ".se.fc1.bias", {op.se_width}, TensorKind::Param, false);
    u.se.w2 = st.add(p + ".se.fc2.weight", {mid, op.se_width}, TensorKind::Param, true);
    u.se.b2 = st.add(p + ".se.fc2.bias", {mid}, TensorKind::Param, false);
    for (int id : {u.se.w1, u.se.b1, u.se.w2, u.se.b2}) u.tensor_ids.push_back(id);
  }
  u.project = add_conv(p + ".project", mid, l.cout, 1, 1, l.out_height, l.out_width, Act::None, false, &u.tensor_ids);
  u.residual = l.stride == 1 && l.cin == l.cout;
  return u;
}

void Replica::Impl::build() {
  const SpaceDesc& sp = net.space_;
  stem = add_conv("stem", sp.stem.cin, sp.stem.cout, sp.stem.kernel, sp.stem.stride, sp.stem.height, sp.stem.width,
                  sp.act, false, nullptr);
  for (size_t i = 0; i < sp.fixed.size(); i++)
    fixed.push_back(add_op("fixed." + std::to_string(i), sp.fixed[i], sp.fixed[i].ops[0]));
  for (size_t l = 0; l < sp.layers.size(); l++) {
    std::vector<OpUnits> ops;
    for (size_t j = 0; j < sp.layers[l].ops.size(); j++)
      ops.push_back(add_op("layers." + std::to_string(l) + "." + std::to_string(j), sp.layers[l], sp.layers[l].ops[j]));
    layers.push_back(std::move(ops));
  }
  head = add_conv("head", sp.head_cin, sp.head_cout, 1, 1, sp.head_height, sp.head_width, sp.act, false, nullptr);
  fc_w = st.add("fc.weight", {sp.classes, sp.head_cout}, TensorKind::Param, true);
  fc_b = st.add("fc.bias", {sp.classes}, TensorKind::Param, false);
  st.finalize();
  for (size_t i = 0; i < fixed.size(); i++) fixed_state.emplace_back(be, &arena);
  for (size_t i = 0; i < layers.size(); i++) layer_state.emplace_back(be, &arena);
  for (size_t i = 0; i < layers.size(); i++) eval_depth.emplace_back(be, &arena);
  be.upload(norm_mean.ensure(sp.channels), sp.mean.data(), size_t(sp.channels) * sizeof(float));
  be.upload(norm_std.ensure(sp.channels), sp.std.data(), size_t(sp.channels) * sizeof(float));
}

// Kaiming normal (fan_out, relu gain) for convs as torchvision's MobileNetV2 does; BN gamma 1,
// beta 0, running var 1; fc normal(0, 0.01); biases 0.
void Replica::Impl::initialise(uint64_t seed) {
  InitRng rng(seed);
  std::vector<float> host;
  for (int id = 0; id < int(st.entries().size()); id++) {
    const TensorEntry& e = st.entry(id);
    host.assign(size_t(e.size), 0.0f);
    float* v = host.data();
    const std::string& n = e.name;
    auto ends = [&](const char* s) {
      size_t L = std::strlen(s);
      return n.size() >= L && n.compare(n.size() - L, L, s) == 0;
    };
    if (ends(".running_var")) {
      std::fill(v, v + e.size, 1.0f);
    } else if (ends(".running_mean") || ends(".bias")) {
      std::fill(v, v + e.size, 0.0f);
    } else if (ends("bn.weight")) {
      std::fill(v, v + e.size, 1.0f);
    } else if (n == "fc.weight") {
      for (int64_t i = 0; i < e.size; i++) v[i] = float(0.01 * rng.normal());
    } else {
      // conv / SE weights: fan_out = out channels * kernel area (depthwise: C * k * k, as PyTorch counts it)
      int64_t fan_out;
      if (e.shape.size() == 3) fan_out = int64_t(e.shape[0]) * e.shape[1] * e.shape[2];  // [k][k][C]
      else if (e.shape.size() == 4) fan_out = int64_t(e.shape[0]) * e.shape[1] * e.shape[2];
      else fan_out = e.shape[0];
      double sd = std::sqrt(2.0 / double(fan_out));
      for (int64_t i = 0; i < e.size; i++) v[i] = float(sd * rng.normal());
    }
    st.write(id, v);
  }
}

}  // namespace gnas
