// The supernet graph: parameter registration and initialisation, the forward and backward of
// each block kind, training steps, batched multi-path evaluation with shared prefixes, and BN
// calibration. All arithmetic goes through the Backend; this file only sequences ops and owns
// the saved activations.
#include "supernet/supernet.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <numeric>
#include <stdexcept>

#include "core/backends.h"
#include "parallel/data_parallel.h"
#include "supernet/weight_health.h"

namespace gnas {

void SpaceDesc::validate() const {
  auto fail = [](const std::string& m) { throw std::invalid_argument("space: " + m); };
  if (height <= 0 || width <= 0 || channels <= 0) fail("input size must be positive");
  if (classes < 2) fail("at least 2 classes");
  if (int(mean.size()) != channels || int(std.size()) != channels) fail("normalization needs one mean/std per channel");
  if (stem.cin != channels || stem.cout <= 0) fail("stem widths do not fit the input");
  if (layers.empty()) fail("the space has no searchable layers");
  int c = stem.cout, h = stem.out_height, w = stem.out_width;
  auto check_layer = [&](const LayerDesc& l, const std::string& where, bool fixed) {
    if (l.cin != c) fail(where + ": cin " + std::to_string(l.cin) + " != previous width " + std::to_string(c));
    if (l.height != h || l.width != w) fail(where + ": input size does not follow the previous layer");
    if (l.stride != 1 && l.stride != 2) fail(where + ": stride must be 1 or 2");
    if (l.ops.empty()) fail(where + ": no ops");
    if (fixed && l.ops.size() != 1) fail(where + ": a fixed block has exactly one op");
    for (const OpDesc& op : l.ops) {
      if (op.kind == OpKind::MBConv) {
        if (op.kernel != 3 && op.kernel != 5 && op.kernel != 7) fail(where + ": kernel must be 3, 5 or 7");
        if (op.expansion < 1 || op.mid != l.cin * op.expansion) fail(where + ": mid must be cin * expansion");
        if (op.se && op.se_width < 1) fail(where + ": SE width must be >= 1");
      } else if (op.kind == OpKind::Skip) {
        if (l.stride != 1 || l.cin != l.cout) fail(where + ": a skip needs stride 1 and cin == cout");
      }
    }
    c = l.cout;
    h = l.out_height;
    w = l.out_width;
  };
  for (size_t i = 0; i < fixed.size(); i++) check_layer(fixed[i], "fixed block " + std::to_string(i), true);
  size_t nops = layers[0].ops.size();
  for (size_t i = 0; i < layers.size(); i++) {
    if (layers[i].ops.size() != nops) fail("every searchable layer needs the same number of ops");
    check_layer(layers[i], "layer " + std::to_string(i), false);
  }
  if (head_cin != c || head_height != h || head_width != w) fail("head does not fit the last layer");
  if (head_cout <= 0) fail("head width must be positive");
}

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

struct BnIds {
  int gamma = -1, beta = -1, mean = -1, var = -1;
  int C = 0;
};

// conv (dense or depthwise) -> BN -> activation
struct ConvUnit {
  int w = -1;
  BnIds bn;
  ConvShape shape;  // N filled per call
  Act act = Act::None;
  bool depthwise = false;
};

struct SeUnit {
  int w1 = -1, b1 = -1, w2 = -1, b2 = -1;
  int C = 0, R = 0, HW = 0;
};

struct OpUnits {
  OpKind kind = OpKind::MBConv;
  bool has_expand = false, has_se = false, residual = false;
  ConvUnit expand, dw, project;  // MBConv
  SeUnit se;
  ConvUnit reduce;  // Conv1x1 identity
  std::vector<int> tensor_ids;
};

// Saved state of one conv -> BN -> act unit: the conv output and the batch statistics. The
// activated output is NOT kept: backward rebuilds it with bn_act_apply when it needs it (as the
// next conv's input), which halves the activations a training step holds.
struct UnitState {
  explicit UnitState(Backend& be) : pre(be), mean(be), invstd(be) {}
  BackendBuffer pre;  // conv output (BN input)
  BackendBuffer mean, invstd;
};

struct OpState {
  explicit OpState(Backend& be)
      : expand(be), dw(be), project(be), reduce(be), se_pooled(be), se_hidden(be), se_gate(be), out(be) {}
  UnitState expand, dw, project, reduce;
  BackendBuffer se_pooled, se_hidden, se_gate;  // small: per image and channel
  BackendBuffer out;  // block output (project output + residual): the next block's input
};

}  // namespace

struct Supernet::Impl {
  Supernet& net;
  Backend& be;
  TensorStore& st;

  ConvUnit stem;
  std::vector<OpUnits> fixed;
  std::vector<std::vector<OpUnits>> layers;  // [layer][choice]
  ConvUnit head;
  int fc_w = -1, fc_b = -1;

  // Every buffer below is backend memory (device memory for CUDA).
  // Training state: saved activations per position (stem, fixed..., layers..., head).
  UnitState stem_state{be}, head_state{be};
  BackendBuffer stem_out{be};  // the stem's activated output is the first block's input: kept
  // Transient activated outputs inside a block (expand, depthwise, SE), shared by all blocks:
  // written in forward, rebuilt in backward.
  BackendBuffer t_exp{be}, t_dw{be}, t_se{be}, t_head{be};
  std::vector<OpState> fixed_state, layer_state;
  BackendBuffer input{be}, pooled{be}, logits{be}, dlogits{be}, losses{be};
  // The batch as the backend sees it (device backends: uploaded images and labels) and the
  // normalisation constants.
  BackendBuffer batch_images{be}, batch_labels{be}, norm_mean{be}, norm_std{be};
  const int32_t* labels_dev = nullptr;
  // Input of each block in the last saved forward (a skip passes its input through, so these
  // point into earlier blocks' outputs); the last entry is the head's input.
  std::vector<const float*> block_in;
  BackendBuffer correct_dev{be};
  std::vector<float> loss_host;
  std::vector<uint8_t> correct_host;
  // Backward scratch, reused by every block: the block-level gradient ping-pong pair and the
  // unit-level intermediates.
  BackendBuffer g_a{be}, g_b{be}, s_pre{be}, s_mid1{be}, s_mid2{be}, d_pooled{be}, d_head{be};
  BackendBuffer t_dg{be}, t_db{be}, t_dg2{be}, t_db2{be};  // BN parameter gradients from fused backwards
  std::vector<BackendBuffer> staging;
  int staging_used = 0;
  // Evaluation: one shared set of unit buffers plus one block-output buffer per depth.
  OpState eval_state{be};
  UnitState eval_unit{be};
  std::vector<BackendBuffer> eval_depth;
  BackendBuffer eval_fixed_a{be}, eval_fixed_b{be};
  float momentum_override = -1.f;  // >= 0 during calibration (cumulative average)

  Impl(Supernet& n) : net(n), be(*n.backend_), st(n.store_) {
    for (int i = 0; i < 6; i++) staging.emplace_back(be);
  }

  // Every per-call buffer (all but the normalisation constants uploaded at build time).
  template <class F>
  void for_each_call_buffer(F&& f) {
    auto unit = [&](UnitState& u) {
      for (BackendBuffer* b : {&u.pre, &u.mean, &u.invstd}) f(*b);
    };
    auto op = [&](OpState& o) {
      for (UnitState* u : {&o.expand, &o.dw, &o.project, &o.reduce}) unit(*u);
      for (BackendBuffer* b : {&o.se_pooled, &o.se_hidden, &o.se_gate, &o.out}) f(*b);
    };
    unit(stem_state);
    unit(head_state);
    unit(eval_unit);
    op(eval_state);
    for (OpState& o : fixed_state) op(o);
    for (OpState& o : layer_state) op(o);
    for (BackendBuffer* b : {&stem_out, &t_exp, &t_dw, &t_se, &t_head, &input, &pooled, &logits, &dlogits, &losses,
                             &batch_images, &batch_labels, &correct_dev, &g_a, &g_b, &s_pre, &s_mid1, &s_mid2,
                             &d_pooled, &d_head, &t_dg, &t_db, &t_dg2, &t_db2, &eval_fixed_a, &eval_fixed_b})
      f(*b);
    for (BackendBuffer& b : staging) f(b);
    for (BackendBuffer& b : eval_depth) f(b);
  }

  void trim() {
    for_each_call_buffer([](BackendBuffer& b) { b.reset(); });
    block_in.clear();
    loss_host = {};
    correct_host = {};
  }

  int64_t call_buffer_bytes() {
    int64_t floats = 0;
    for_each_call_buffer([&](BackendBuffer& b) { floats += b.capacity(); });
    return floats * int64_t(sizeof(float));
  }

  // ---------------- registration ----------------
  BnIds add_bn(const std::string& p, int C) {
    BnIds b;
    b.C = C;
    b.gamma = st.add(p + ".weight", {C}, TensorKind::Param, false);
    b.beta = st.add(p + ".bias", {C}, TensorKind::Param, false);
    b.mean = st.add(p + ".running_mean", {C}, TensorKind::Buffer, false);
    b.var = st.add(p + ".running_var", {C}, TensorKind::Buffer, false);
    return b;
  }

  ConvUnit add_conv(const std::string& p, int cin, int cout, int k, int stride, int H, int W, Act act, bool dw,
                    std::vector<int>* ids) {
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

  OpUnits add_op(const std::string& p, const LayerDesc& l, const OpDesc& op) {
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

  void build() {
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
    for (size_t i = 0; i < fixed.size(); i++) fixed_state.emplace_back(be);
    for (size_t i = 0; i < layers.size(); i++) layer_state.emplace_back(be);
    for (size_t i = 0; i < layers.size(); i++) eval_depth.emplace_back(be);
    be.upload(norm_mean.ensure(sp.channels), sp.mean.data(), size_t(sp.channels) * sizeof(float));
    be.upload(norm_std.ensure(sp.channels), sp.std.data(), size_t(sp.channels) * sizeof(float));
  }

  // Kaiming normal (fan_out, relu gain) for convs as torchvision's MobileNetV2 does; BN gamma 1,
  // beta 0, running var 1; fc normal(0, 0.01); biases 0.
  void initialise(uint64_t seed) {
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

  // ---------------- gradient sinks ----------------
  // The first gradient of a tensor since the last update is written straight into its grad
  // slot; later ones (strict-fair training sums several paths) go to staging and are added.
  struct Sink {
    float* ptr;
    int id;
    bool staged;
  };
  Sink sink(int id) {
    TensorEntry& e = st.entry(id);
    if (!e.pending) {
      e.pending = true;
      return {st.grad(id), id, false};
    }
    if (staging_used >= int(staging.size())) throw std::logic_error("gradient staging exhausted");
    float* p = staging[staging_used++].ensure(e.size);
    return {p, id, true};
  }
  void commit(std::initializer_list<Sink*> sinks) {
    for (Sink* s : sinks)
      if (s->staged) be.add_inplace(st.grad(s->id), s->ptr, st.entry(s->id).size);
    staging_used = 0;
  }

  // ---------------- units ----------------
  void bn_act(const ConvUnit& u, float* out, const float* pre, float* mean, float* invstd, int64_t M, BnMode mode) {
    const BnIds& b = u.bn;
    const float eps = net.space_.bn_eps;
    if (mode == BnMode::Running) {
      be.bn_act_forward_eval(out, pre, st.value(b.gamma), st.value(b.beta), st.value(b.mean), st.value(b.var), eps,
                             u.act, M, b.C);
      return;
    }
    be.bn_act_forward_train(out, mean, invstd, pre, st.value(b.gamma), st.value(b.beta), eps, u.act, M, b.C);
    if (mode == BnMode::Train) update_running(b, mean, invstd, M);
  }

  void update_running(const BnIds& b, const float* mean, const float* invstd, int64_t M) {
    const float m = momentum_override >= 0 ? momentum_override : net.space_.bn_momentum;
    be.bn_update_running(st.value(b.mean), st.value(b.var), mean, invstd, net.space_.bn_eps, m, M, b.C,
                         net.health_->flag());
  }

  // conv -> BN -> act into `out`; `us` receives the saved conv output and statistics.
  // in_bn: the conv's input is given pre-BN (x is the producer's saved conv output) and activated
  // on the fly. out == null: the activated output is not materialised (its consumer fuses it).
  void unit_forward(const ConvUnit& u, int N, const float* x, float* out, UnitState& us, BnMode mode,
                    const BnAct* in_bn = nullptr) {
    ConvShape s = u.shape;
    s.N = N;
    float* pre = us.pre.ensure(s.out_size());
    const int64_t M = int64_t(N) * s.P * s.Q;
    if (mode == BnMode::Running) {
      if (u.depthwise) be.dwconv_forward_fused(pre, nullptr, nullptr, 0.f, x, in_bn, st.value(u.w), s);
      else be.conv_forward_fused(pre, nullptr, nullptr, 0.f, x, in_bn, st.value(u.w), s);
      if (out) bn_act(u, out, pre, us.mean.ensure(s.K), us.invstd.ensure(s.K), M, mode);
      return;
    }
    float* mean = us.mean.ensure(s.K);
    float* invstd = us.invstd.ensure(s.K);
    const float eps = net.space_.bn_eps;
    if (u.depthwise) be.dwconv_forward_fused(pre, mean, invstd, eps, x, in_bn, st.value(u.w), s);
    else be.conv_forward_fused(pre, mean, invstd, eps, x, in_bn, st.value(u.w), s);
    if (out) be.bn_act_apply(out, pre, mean, invstd, st.value(u.bn.gamma), st.value(u.bn.beta), u.act, M, s.K);
    if (mode == BnMode::Train) update_running(u.bn, mean, invstd, M);
  }
  BnAct bnact_of(const ConvUnit& u, UnitState& us) {
    BnAct b;
    b.mean = us.mean.data(); b.invstd = us.invstd.data();
    b.gamma = st.value(u.bn.gamma); b.beta = st.value(u.bn.beta); b.act = u.act;
    return b;
  }

  // dx may be null. dout is the gradient of the unit's output. in_bn: see unit_forward (x pre-BN).
  void unit_backward(const ConvUnit& u, int N, const float* x, UnitState& us, const float* dout, float* dx,
                     const BnAct* in_bn = nullptr) {
    ConvShape s = u.shape;
    s.N = N;
    const int64_t M = int64_t(N) * s.P * s.Q;
    float* dpre = s_pre.ensure(s.out_size());
    Sink dg = sink(u.bn.gamma), db = sink(u.bn.beta);
    be.bn_act_backward(dpre, dg.ptr, db.ptr, dout, us.pre.data(), us.mean.data(), us.invstd.data(),
                       st.value(u.bn.gamma), st.value(u.bn.beta), u.act, M, s.K);
    Sink dw = sink(u.w);
    if (u.depthwise) be.dwconv_backward_fused(dx, dw.ptr, nullptr, nullptr, dpre, nullptr, x, in_bn, st.value(u.w), s);
    else be.conv_backward_fused(dx, dw.ptr, nullptr, nullptr, dpre, nullptr, x, in_bn, st.value(u.w), s);
    commit({&dg, &db, &dw});
  }

  float* se_forward(const OpUnits& op, int N, const float* x, OpState& os) {
    const SeUnit& se = op.se;
    SEShape ss{N, se.HW, se.C, se.R};
    float* y = t_se.ensure(int64_t(N) * se.HW * se.C);
    be.se_forward(y, os.se_pooled.ensure(int64_t(N) * se.C), os.se_hidden.ensure(int64_t(N) * se.R),
                  os.se_gate.ensure(int64_t(N) * se.C), x, st.value(se.w1), st.value(se.b1), st.value(se.w2),
                  st.value(se.b2), ss);
    return y;
  }

  // Rebuilds a unit's activated output from its saved conv output and statistics.
  float* rebuild(const ConvUnit& u, int N, UnitState& us, BackendBuffer& into) {
    ConvShape s = u.shape;
    s.N = N;
    float* y = into.ensure(s.out_size());
    be.bn_act_apply(y, us.pre.data(), us.mean.data(), us.invstd.data(), st.value(u.bn.gamma), st.value(u.bn.beta),
                    u.act, int64_t(N) * s.P * s.Q, s.K);
    return y;
  }

  // Forward of one block. Returns the block output: `out` (which must hold layer_out_elems), or x
  // itself for a skip.
  const float* op_forward(const OpUnits& op, int N, const float* x, float* out, OpState& os, BnMode mode) {
    switch (op.kind) {
      case OpKind::Skip:
        return x;
      case OpKind::Conv1x1:
        unit_forward(op.reduce, N, x, out, os.reduce, mode);
        return out;
      case OpKind::MBConv:
        break;
    }
    const bool fuse = mode != BnMode::Running;
    const float* h = x;
    BnAct bn_e, bn_d;
    const BnAct* in_dw = nullptr;
    if (op.has_expand) {
      ConvShape s = op.expand.shape;
      s.N = N;
      if (fuse) {
        unit_forward(op.expand, N, h, nullptr, os.expand, mode);
        bn_e = bnact_of(op.expand, os.expand);
        in_dw = &bn_e;
        h = os.expand.pre.data();
      } else {
        float* e = t_exp.ensure(s.out_size());
        unit_forward(op.expand, N, h, e, os.expand, mode);
        h = e;
      }
    }
    const BnAct* in_proj = nullptr;
    {
      ConvShape s = op.dw.shape;
      s.N = N;
      if (fuse && !op.has_se) {
        unit_forward(op.dw, N, h, nullptr, os.dw, mode, in_dw);
        bn_d = bnact_of(op.dw, os.dw);
        in_proj = &bn_d;
        h = os.dw.pre.data();
      } else {
        float* d = t_dw.ensure(s.out_size());
        unit_forward(op.dw, N, h, d, os.dw, mode, in_dw);
        h = d;
      }
    }
    if (op.has_se) h = se_forward(op, N, h, os);
    unit_forward(op.project, N, h, out, os.project, mode, in_proj);
    if (op.residual) {
      ConvShape s = op.project.shape;
      s.N = N;
      be.add_inplace(out, x, s.out_size());
    }
    return out;
  }

  // Backward of one block: dy is the gradient of its output; writes dx (input gradient).
  // For a skip, dx = dy (copied). `x` is the block input as the forward saw it.
  void op_backward(const OpUnits& op, const LayerDesc& l, int N, const float* x, OpState& os, const float* dy,
                   float* dx) {
    const int64_t in_elems = int64_t(N) * l.height * l.width * l.cin;
    switch (op.kind) {
      case OpKind::Skip:
        be.copy(dx, dy, size_t(in_elems) * sizeof(float));
        return;
      case OpKind::Conv1x1:
        unit_backward(op.reduce, N, x, os.reduce, dy, dx);
        return;
      case OpKind::MBConv:
        break;
    }
    ConvShape ds = op.dw.shape;
    ds.N = N;
    BnAct bn_e, bn_d;
    if (op.has_expand) bn_e = bnact_of(op.expand, os.expand);
    bn_d = bnact_of(op.dw, os.dw);
    float* d_mid = s_mid1.ensure(ds.out_size());
    if (op.has_se) {
      const float* dw_out = rebuild(op.dw, N, os.dw, t_dw);
      const float* proj_in = se_forward(op, N, dw_out, os);
      unit_backward(op.project, N, proj_in, os.project, dy, d_mid);
      const SeUnit& se = op.se;
      SEShape ss{N, se.HW, se.C, se.R};
      float* d_dw = s_mid2.ensure(ds.out_size());
      Sink w1 = sink(se.w1), b1 = sink(se.b1), w2 = sink(se.w2), b2 = sink(se.b2);
      be.se_backward(d_dw, w1.ptr, b1.ptr, w2.ptr, b2.ptr, d_mid, dw_out, os.se_pooled.data(), os.se_hidden.data(),
                     os.se_gate.data(), st.value(se.w1), st.value(se.w2), ss);
      commit({&w1, &b1, &w2, &b2});
      std::swap(s_mid1, s_mid2);
      d_mid = s_mid1.data();
      if (op.has_expand) {
        ConvShape es = op.expand.shape;
        es.N = N;
        float* d_exp = s_mid2.ensure(es.out_size());
        unit_backward(op.dw, N, os.expand.pre.data(), os.dw, d_mid, d_exp, &bn_e);
        unit_backward(op.expand, N, x, os.expand, d_exp, dx);
      } else {
        unit_backward(op.dw, N, x, os.dw, d_mid, dx);
      }
      if (op.residual) be.add_inplace(dx, dy, in_elems);
      return;
    }
    // Fused backward (no SE): no separate BN pass for the expand and dw units. The project conv's
    // backward yields the dw BN's parameter gradients; the dw backward runs that BN's input
    // gradient on the fly and yields the expand BN's; the expand backward runs the expand BN's.
    const ConvUnit& pu = op.project;
    const ConvUnit& du = op.dw;
    ConvShape ps = pu.shape;
    ps.N = N;
    {
      // the project unit's own BN (no activation, small tensor)
      float* dpre = s_pre.ensure(ps.out_size());
      Sink dg = sink(pu.bn.gamma), db = sink(pu.bn.beta);
      be.bn_act_backward(dpre, dg.ptr, db.ptr, dy, os.project.pre.data(), os.project.mean.data(),
                         os.project.invstd.data(), st.value(pu.bn.gamma), st.value(pu.bn.beta), pu.act,
                         int64_t(N) * ps.P * ps.Q, ps.K);
      Sink dw = sink(pu.w);
      be.conv_backward_fused(d_mid, dw.ptr, t_dg.ensure(du.shape.K), t_db.ensure(du.shape.K), dpre, nullptr,
                             os.dw.pre.data(), &bn_d, st.value(pu.w), ps);
      commit({&dg, &db, &dw});
    }
    BnGrad gd;
    gd.x = os.dw.pre.data(); gd.mean = bn_d.mean; gd.invstd = bn_d.invstd; gd.gamma = bn_d.gamma;
    gd.beta = bn_d.beta; gd.act = bn_d.act; gd.dgamma = t_dg.data(); gd.dbeta = t_db.data();
    {
      Sink dg = sink(du.bn.gamma), db = sink(du.bn.beta);
      be.copy(dg.ptr, t_dg.data(), size_t(du.shape.K) * sizeof(float));
      be.copy(db.ptr, t_db.data(), size_t(du.shape.K) * sizeof(float));
      Sink dw = sink(du.w);
      if (op.has_expand) {
        ConvShape es = op.expand.shape;
        es.N = N;
        float* d_exp = s_mid2.ensure(es.out_size());
        be.dwconv_backward_fused(d_exp, dw.ptr, t_dg2.ensure(es.K), t_db2.ensure(es.K), d_mid, &gd,
                                 os.expand.pre.data(), &bn_e, st.value(du.w), ds);
        commit({&dg, &db, &dw});
        const ConvUnit& eu = op.expand;
        BnGrad ge;
        ge.x = os.expand.pre.data(); ge.mean = bn_e.mean; ge.invstd = bn_e.invstd; ge.gamma = bn_e.gamma;
        ge.beta = bn_e.beta; ge.act = bn_e.act; ge.dgamma = t_dg2.data(); ge.dbeta = t_db2.data();
        Sink eg = sink(eu.bn.gamma), eb = sink(eu.bn.beta);
        be.copy(eg.ptr, t_dg2.data(), size_t(es.K) * sizeof(float));
        be.copy(eb.ptr, t_db2.data(), size_t(es.K) * sizeof(float));
        Sink ew = sink(eu.w);
        be.conv_backward_fused(dx, ew.ptr, nullptr, nullptr, d_exp, &ge, x, nullptr, st.value(eu.w), es);
        commit({&eg, &eb, &ew});
      } else {
        be.dwconv_backward_fused(dx, dw.ptr, nullptr, nullptr, d_mid, &gd, x, nullptr, st.value(du.w), ds);
        commit({&dg, &db, &dw});
      }
    }
    if (op.residual) be.add_inplace(dx, dy, in_elems);
  }

  // ---------------- whole path ----------------
  // Normalises the batch into `input` (uploading images and labels first on a device backend).
  const float* prepare_input(const Batch& b) {
    const SpaceDesc& sp = net.space_;
    const int64_t M = int64_t(b.n) * sp.height * sp.width;
    const int64_t elems = M * sp.channels;
    float* x = input.ensure(elems);
    const bool host = be.host_memory();
    if (b.u8) {
      const uint8_t* src = b.u8;
      if (!host) {
        uint8_t* d = batch_images.ensure_as<uint8_t>(elems);
        be.upload(d, b.u8, size_t(elems));
        src = d;
      }
      be.normalize_u8(x, src, norm_mean.data(), norm_std.data(), M, sp.channels);
    } else {
      const float* src = b.f32;
      if (!host) {
        float* d = batch_images.ensure(elems);
        be.upload(d, b.f32, size_t(elems) * sizeof(float));
        src = d;
      }
      be.normalize_f32(x, src, norm_mean.data(), norm_std.data(), M, sp.channels);
    }
    labels_dev = b.labels;
    if (b.labels && !host) {
      int32_t* d = batch_labels.ensure_as<int32_t>(b.n);
      be.upload(d, b.labels, size_t(b.n) * sizeof(int32_t));
      labels_dev = d;
    }
    return x;
  }

  // Softmax cross-entropy of the current logits against the batch's labels (dlogits: the training
  // gradient, or null); fetch_score() then returns the mean loss and the number correct. Split in
  // two so a training step queues its backward before waiting for the loss (a device backend's
  // download waits for the queue).
  void queue_score(const float* lg, float* dl, float smoothing, int N) {
    float* loss = losses.ensure(N);
    uint8_t* correct = correct_dev.ensure_as<uint8_t>(N);
    be.softmax_xent(loss, correct, dl, lg, labels_dev, smoothing, N, net.space_.classes);
  }
  PathScore score(const float* lg, float* dl, float smoothing, int N) {
    queue_score(lg, dl, smoothing, N);
    return fetch_score(N);
  }
  PathScore fetch_score(int N) {
    const float* loss = losses.data();
    const uint8_t* correct = correct_dev.as<uint8_t>();
    loss_host.resize(size_t(N));
    correct_host.resize(size_t(N));
    be.download(loss_host.data(), loss, size_t(N) * sizeof(float));
    be.download(correct_host.data(), correct, size_t(N));
    PathScore s;
    for (int i = 0; i < N; i++) {
      s.loss += loss_host[size_t(i)];
      s.correct += correct_host[size_t(i)];
    }
    s.loss /= N;
    return s;
  }

  int64_t layer_out_elems(const LayerDesc& l, int N) const { return int64_t(N) * l.out_height * l.out_width * l.cout; }

  // Training forward: every activation saved in the per-position states. Returns the logits.
  const float* forward_saved(const std::vector<int>& arch, int N, BnMode mode) {
    const SpaceDesc& sp = net.space_;
    const float* x = input.data();
    ConvShape ss = stem.shape;
    ss.N = N;
    float* h = stem_out.ensure(ss.out_size());
    unit_forward(stem, N, x, h, stem_state, mode);
    const float* cur = h;
    block_in.assign(fixed.size() + layers.size() + 1, nullptr);
    for (size_t i = 0; i < fixed.size(); i++) {
      block_in[i] = cur;
      float* out = fixed_state[i].out.ensure(layer_out_elems(sp.fixed[i], N));
      cur = op_forward(fixed[i], N, cur, out, fixed_state[i], mode);
    }
    for (size_t l = 0; l < layers.size(); l++) {
      block_in[fixed.size() + l] = cur;
      float* out = layer_state[l].out.ensure(layer_out_elems(sp.layers[l], N));
      cur = op_forward(layers[l][size_t(arch[l])], N, cur, out, layer_state[l], mode);
    }
    block_in.back() = cur;  // the head's input
    return head_forward(cur, N, head_state, mode);
  }

  const float* head_forward(const float* x, int N, UnitState& hs, BnMode mode) {
    const SpaceDesc& sp = net.space_;
    ConvShape s = head.shape;
    s.N = N;
    float* h = t_head.ensure(s.out_size());  // GAP's backward does not need its input
    unit_forward(head, N, x, h, hs, mode);
    float* p = pooled.ensure(int64_t(N) * sp.head_cout);
    be.gap_forward(p, h, N, s.P * s.Q, sp.head_cout);
    float* lg = logits.ensure(int64_t(N) * sp.classes);
    be.fc_forward(lg, p, st.value(fc_w), st.value(fc_b), N, sp.head_cout, sp.classes);
    return lg;
  }

  void backward_saved(const std::vector<int>& arch, int N) {
    const SpaceDesc& sp = net.space_;
    const size_t nf = fixed.size();
    // classifier and head
    ConvShape hs = head.shape;
    hs.N = N;
    float* dp = d_pooled.ensure(int64_t(N) * sp.head_cout);
    {
      Sink dw = sink(fc_w), db = sink(fc_b);
      be.fc_backward(dp, dw.ptr, db.ptr, dlogits.data(), pooled.data(), st.value(fc_w), N, sp.head_cout, sp.classes);
      commit({&dw, &db});
    }
    float* dh = d_head.ensure(hs.out_size());
    be.gap_backward(dh, dp, N, hs.P * hs.Q, sp.head_cout);
    const float* head_in = block_in.back();
    float* dy = g_a.ensure(hs.in_size());
    unit_backward(head, N, head_in, head_state, dh, dy);
    // blocks, last to first, ping-ponging the block gradient between g_a and g_b
    BackendBuffer* cur = &g_a;
    BackendBuffer* nxt = &g_b;
    for (size_t pos = nf + layers.size(); pos-- > 0;) {
      const LayerDesc& l = pos < nf ? sp.fixed[pos] : sp.layers[pos - nf];
      const OpUnits& op = pos < nf ? fixed[pos] : layers[pos - nf][arch[pos - nf]];
      OpState& os = pos < nf ? fixed_state[pos] : layer_state[pos - nf];
      if (op.kind == OpKind::Skip) continue;  // dx = dy: the gradient passes through unchanged
      float* dx = nxt->ensure(int64_t(N) * l.height * l.width * l.cin);
      op_backward(op, l, N, block_in[pos], os, cur->data(), dx);
      std::swap(cur, nxt);
    }
    // stem: no input gradient needed
    unit_backward(stem, N, input.data(), stem_state, cur->data(), nullptr);
  }
};

// ======================================================================================

static BackendOptions backend_options(const SupernetOptions& o) {
  BackendOptions b;
  b.threads = o.threads;
  b.device = o.device;
  b.math = o.math;
  return b;
}

static const SpaceDesc& validated(const SpaceDesc& s) {
  s.validate();
  return s;
}

Supernet::Supernet(const SpaceDesc& space, const SupernetOptions& options)
    : space_(validated(space)),
      options_(options),
      backend_(make_backend(options.backend, backend_options(options))),
      store_(*backend_) {
  if (options.gpus < 1) throw std::invalid_argument("gpus must be >= 1");
  health_ = std::make_unique<WeightHealth>(*backend_);
  impl_ = std::make_unique<Impl>(*this);
  impl_->build();
  impl_->initialise(options.seed);
  if (options.gpus > 1) parallel_ = std::make_unique<DataParallel>(*this, space_, options_);
}

Supernet::~Supernet() = default;

int Supernet::replicas() const { return parallel_ ? parallel_->size() : 1; }

double Supernet::replica_divergence() { return parallel_ ? parallel_->max_divergence() : 0.0; }

void Supernet::write_tensor(int id, const float* host) {
  store_.write(id, host);
  if (parallel_)
    for (int r = 1; r < parallel_->size(); r++) parallel_->replica(r).store().write(id, host);
}

void Supernet::write_all(const float* values, const float* velocities) {
  store_.write_all(values, velocities);
  if (parallel_)
    for (int r = 1; r < parallel_->size(); r++) parallel_->replica(r).store().write_all(values, velocities);
}

void Supernet::check_arch(const std::vector<int>& arch) const {
  if (arch.size() != space_.layers.size())
    throw std::invalid_argument("arch has " + std::to_string(arch.size()) + " choices, the space has " +
                                std::to_string(space_.layers.size()) + " searchable layers");
  for (size_t l = 0; l < arch.size(); l++) {
    int n = int(space_.layers[l].ops.size());
    if (arch[l] < 0 || arch[l] >= n)
      throw std::invalid_argument("arch[" + std::to_string(l) + "] = " + std::to_string(arch[l]) +
                                  " is out of range [0, " + std::to_string(n - 1) + "]");
  }
}

void Supernet::check_batch(const Batch& b, bool need_labels) const {
  if (b.n <= 0) throw std::invalid_argument("empty batch");
  if (!b.u8 && !b.f32) throw std::invalid_argument("batch has no images");
  if (need_labels) {
    if (!b.labels) throw std::invalid_argument("batch has no labels");
    for (int i = 0; i < b.n; i++)
      if (b.labels[i] < 0 || b.labels[i] >= space_.classes)
        throw std::invalid_argument("labels[" + std::to_string(i) + "] = " + std::to_string(b.labels[i]) +
                                    " is out of range [0, " + std::to_string(space_.classes - 1) + "]");
  }
}

void Supernet::require_finite(const std::string& call) const { health_->require_finite(call); }

int64_t Supernet::memory_bytes() const {
  int64_t bytes = store_.total() * 3 * int64_t(sizeof(float)) + impl_->call_buffer_bytes() + backend_->scratch_bytes();
  if (parallel_)
    for (int r = 1; r < parallel_->size(); r++) bytes += parallel_->replica(r).memory_bytes();
  return bytes;
}

void Supernet::trim_workspace() {
  backend_->synchronize();  // nothing queued may still use the buffers
  impl_->trim();
  backend_->trim();
  if (parallel_)
    for (int r = 1; r < parallel_->size(); r++) parallel_->replica(r).trim_workspace();
}

void Supernet::recover_after_failure() {
  try {
    backend_->synchronize();
  } catch (...) {
    // the failure being recovered from may be the device's; the buffers are freed regardless
  }
  for (TensorEntry& e : store_.entries()) e.pending = false;
  impl_->trim();
  backend_->trim();
  memory_.trimmed();
  if (parallel_)
    for (int r = 1; r < parallel_->size(); r++) parallel_->replica(r).recover_after_failure();
}

void Supernet::weights_restored() {
  health_->restored();
  if (parallel_)
    for (int r = 1; r < parallel_->size(); r++) parallel_->replica(r).health_->restored();
}

StepResult Supernet::accumulate_gradients(const std::vector<int>& arch, const Batch& batch) {
  health_->require_finite("accumulateGradients");
  StepResult r;
  if (!parallel_) {
    r = accumulate_local(arch, batch);
  } else {
    check_arch(arch);
    check_batch(batch, true);
    r = parallel_->accumulate_gradients(arch, batch);
  }
  after_call(batch.n);
  // The pending gradients stay (the weights are untouched); applying them would raise the flag.
  if (!std::isfinite(r.loss))
    throw NonFiniteError("the training loss is " + std::to_string(r.loss) + ": the path's outputs overflowed");
  return r;
}

StepResult Supernet::accumulate_local(const std::vector<int>& arch, const Batch& batch) {
  check_arch(arch);
  check_batch(batch, true);
  Impl& m = *impl_;
  const int N = batch.n;
  m.prepare_input(batch);
  const float* lg = m.forward_saved(arch, N, BnMode::Train);
  float* dl = m.dlogits.ensure(int64_t(N) * space_.classes);
  m.queue_score(lg, dl, options_.label_smoothing, N);
  m.backward_saved(arch, N);
  const PathScore s = m.fetch_score(N);  // losses/correct are not touched by backward
  StepResult r;
  r.loss = s.loss;
  r.correct = s.correct;
  return r;
}

void Supernet::apply_update(float lr) {
  health_->require_finite("applyUpdate");
  if (parallel_) parallel_->apply_update(lr);
  else apply_update_local(lr);
  check_updates("the training step (SGD update and BN running statistics)");
}

void Supernet::check_updates(const std::string& what) {
  bool raised = health_->raised();
  if (parallel_)  // each replica flags its own shard's BN statistics before they are averaged
    for (int r = 1; r < parallel_->size(); r++) raised = parallel_->replica(r).health_->raised() || raised;
  if (!raised) return;
  const std::string found = describe_nonfinite(store_);
  const std::string detail = found.empty() ? "non-finite values on another replica" : found;
  health_->poison(detail);
  throw NonFiniteError(what + " produced " + detail);
}

void Supernet::apply_update_local(float lr) {
  float* flag = health_->flag();
  for (int id = 0; id < int(store_.entries().size()); id++) {
    TensorEntry& e = store_.entry(id);
    if (!e.pending) continue;
    const float wd = e.decay ? options_.weight_decay : options_.weight_decay_no_decay;
    backend_->sgd_update(store_.value(id), store_.velocity(id), store_.grad(id), e.size, lr, options_.momentum, wd,
                         options_.nesterov, flag);
    e.pending = false;
  }
}

StepResult Supernet::train_step(const std::vector<int>& arch, const Batch& batch, float lr) {
  if (!std::isfinite(lr) || lr < 0) throw std::invalid_argument("learning rate must be a finite number >= 0");
  StepResult r;
  try {
    r = accumulate_gradients(arch, batch);
  } catch (const NonFiniteError&) {
    // A non-finite loss has non-finite gradients: the update names the tensors it poisoned; if it
    // stayed finite, the loss is the news.
    apply_update(lr);
    throw;
  }
  apply_update(lr);
  return r;
}

void Supernet::normalize(const Batch& batch, float* out) {
  const float* x = impl_->prepare_input(batch);
  backend_->download(out, x, size_t(batch.n) * space_.height * space_.width * space_.channels * sizeof(float));
}

void Supernet::predict(const std::vector<int>& arch, const Batch& batch, BnMode mode, float* logits) {
  health_->require_finite("predict");
  check_arch(arch);
  check_batch(batch, false);
  Impl& m = *impl_;
  m.prepare_input(batch);
  // The saved-activation forward is reused here: predict is not the hot path (evaluate is).
  const float* lg = m.forward_saved(arch, batch.n, mode == BnMode::Train ? BnMode::Batch : mode);
  backend_->download(logits, lg, size_t(batch.n) * space_.classes * sizeof(float));
  after_call(batch.n);
}

std::vector<PathScore> Supernet::evaluate(const std::vector<std::vector<int>>& archs, const Batch& batch, BnMode mode) {
  health_->require_finite("evaluate");
  std::vector<PathScore> scores;
  if (!parallel_) {
    scores = evaluate_local(archs, batch, mode);
  } else {
    if (archs.empty()) throw std::invalid_argument("no archs to evaluate");
    for (const auto& a : archs) check_arch(a);
    check_batch(batch, true);
    scores = parallel_->evaluate(archs, batch, mode);
  }
  after_call(batch.n);
  return scores;
}

std::vector<PathScore> Supernet::evaluate_local(const std::vector<std::vector<int>>& archs, const Batch& batch,
                                                BnMode mode) {
  if (archs.empty()) throw std::invalid_argument("no archs to evaluate");
  for (const auto& a : archs) check_arch(a);
  check_batch(batch, true);
  if (mode == BnMode::Train) mode = BnMode::Batch;  // scoring never touches running statistics
  Impl& m = *impl_;
  const int N = batch.n;
  const SpaceDesc& sp = space_;
  const float* x = m.prepare_input(batch);

  // stem and fixed blocks once for all paths
  ConvShape ss = m.stem.shape;
  ss.N = N;
  float* h = m.eval_fixed_a.ensure(ss.out_size());
  m.unit_forward(m.stem, N, x, h, m.eval_unit, mode);
  const float* cur = h;
  for (size_t i = 0; i < m.fixed.size(); i++) {
    BackendBuffer& dst = (cur == m.eval_fixed_a.data()) ? m.eval_fixed_b : m.eval_fixed_a;
    float* out = dst.ensure(m.layer_out_elems(sp.fixed[i], N));
    cur = m.op_forward(m.fixed[i], N, cur, out, m.eval_state, mode);
  }

  // Depth-first over the trie of archs (sorted), so paths sharing their first j choices share
  // the activations of those j layers.
  std::vector<int> order(archs.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return archs[size_t(a)] < archs[size_t(b)]; });
  std::vector<PathScore> scores(archs.size());
  const int L = int(sp.layers.size());

  std::function<void(int, int, int, const float*)> dfs = [&](int depth, int lo, int hi, const float* in) {
    if (depth == L) {
      const float* lg = m.head_forward(in, N, m.eval_unit, mode);
      const PathScore s = m.score(lg, nullptr, 0.0f, N);
      for (int i = lo; i < hi; i++) scores[size_t(order[size_t(i)])] = s;  // identical archs score once
      return;
    }
    int i = lo;
    while (i < hi) {
      int choice = archs[size_t(order[size_t(i)])][size_t(depth)];
      int j = i;
      while (j < hi && archs[size_t(order[size_t(j)])][size_t(depth)] == choice) j++;
      float* out = m.eval_depth[size_t(depth)].ensure(m.layer_out_elems(sp.layers[size_t(depth)], N));
      const float* o = m.op_forward(m.layers[size_t(depth)][size_t(choice)], N, in, out, m.eval_state, mode);
      dfs(depth + 1, i, j, o);
      i = j;
    }
  };
  dfs(0, 0, int(archs.size()), cur);
  return scores;
}

void Supernet::calibrate_bn(const std::vector<int>& arch, const std::vector<Batch>& batches) {
  health_->require_finite("calibrateBn");
  if (parallel_) {
    check_arch(arch);
    if (batches.empty()) throw std::invalid_argument("calibrateBn needs at least one batch");
    for (const Batch& b : batches) check_batch(b, false);
    parallel_->calibrate_bn(arch, batches);
  } else {
    calibrate_bn_local(arch, batches);
  }
  check_updates("BN calibration");
  int largest = 0;
  for (const Batch& b : batches) largest = std::max(largest, b.n);
  after_call(largest);
}

void Supernet::calibrate_bn_local(const std::vector<int>& arch, const std::vector<Batch>& batches) {
  check_arch(arch);
  if (batches.empty()) throw std::invalid_argument("calibrateBn needs at least one batch");
  for (const Batch& b : batches) check_batch(b, false);
  Impl& m = *impl_;
  // Reset the running statistics of every BN on the path, then average batch statistics.
  std::vector<const OpUnits*> ops;
  for (auto& f : m.fixed) ops.push_back(&f);
  for (size_t l = 0; l < m.layers.size(); l++) ops.push_back(&m.layers[l][size_t(arch[l])]);
  auto reset = [&](const ConvUnit& u) {
    backend_->fill(store_.value(u.bn.mean), 0.0f, u.bn.C);
    backend_->fill(store_.value(u.bn.var), 1.0f, u.bn.C);
  };
  reset(m.stem);
  reset(m.head);
  for (const OpUnits* op : ops) {
    if (op->kind == OpKind::Conv1x1) reset(op->reduce);
    if (op->kind != OpKind::MBConv) continue;
    if (op->has_expand) reset(op->expand);
    reset(op->dw);
    reset(op->project);
  }
  for (size_t i = 0; i < batches.size(); i++) {
    m.momentum_override = 1.0f / float(i + 1);
    try {
      m.prepare_input(batches[i]);
      m.forward_saved(arch, batches[i].n, BnMode::Train);
    } catch (...) {
      m.momentum_override = -1.f;
      throw;
    }
  }
  m.momentum_override = -1.f;
}

// Which tensors a path uses: everything not under "layers." (stem, fixed blocks, head, fc) and
// the tensors of the chosen op of each layer.
static std::vector<bool> path_tensors(const TensorStore& st, const std::vector<std::vector<OpUnits>>& layers,
                                      const std::vector<int>& arch) {
  std::vector<bool> on(st.entries().size(), false);
  for (size_t id = 0; id < st.entries().size(); id++)
    if (st.entries()[id].name.rfind("layers.", 0) != 0) on[id] = true;
  for (size_t l = 0; l < arch.size(); l++)
    for (int id : layers[l][size_t(arch[l])].tensor_ids) on[size_t(id)] = true;
  return on;
}

std::vector<int> Supernet::path_buffer_ids(const std::vector<int>& arch) const {
  check_arch(arch);
  const std::vector<bool> on = path_tensors(store_, impl_->layers, arch);
  std::vector<int> ids;
  for (size_t id = 0; id < on.size(); id++)
    if (on[id] && store_.entries()[id].kind == TensorKind::Buffer) ids.push_back(int(id));
  return ids;
}

int64_t Supernet::path_parameter_count(const std::vector<int>& arch) const {
  check_arch(arch);
  int64_t n = 0;
  const std::vector<bool> on = path_tensors(store_, impl_->layers, arch);
  for (size_t id = 0; id < on.size(); id++)
    if (on[id] && store_.entries()[id].kind == TensorKind::Param) n += store_.entries()[id].size;
  return n;
}

}  // namespace gnas
