// Internals of a supernet replica, shared by the files that implement it (not part of the public
// API): the per-unit and per-block records, and Replica::Impl, which owns the saved activations and
// the scratch buffers. Its member functions live, by topic, in
//   parameters.cpp      registration of every tensor, the graph's records, initialisation
//   blocks.cpp          conv / depthwise -> BN -> act units, squeeze-excite, and the forward and
//                       backward of each block kind (skip, conv 1x1, MBConv with fused BN)
//   path_execution.cpp  one path end to end: input normalisation, the saved-activation forward,
//                       the backward, loss and accuracy scoring (and Replica::accumulate_gradients)
//   evaluation.cpp      many paths on one batch over the trie of shared prefixes; BN calibration
// The gradient sinks and one-line helpers used by several of these files stay here, inline.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <vector>

#include "supernet/replica.h"

namespace gnas {
namespace detail {

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
  SEShape shape(int N) const { return SEShape{N, HW, C, R}; }  // the backend ops' shape at batch N
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
  UnitState(Backend& be, CallArena* a) : pre(be, a), mean(be, a), invstd(be, a) {}
  BackendBuffer pre;  // conv output (BN input)
  BackendBuffer mean, invstd;
};

struct OpState {
  OpState(Backend& be, CallArena* a)
      : expand(be, a), dw(be, a), project(be, a), reduce(be, a), se_pooled(be, a), se_hidden(be, a), se_gate(be, a),
        out(be, a) {}
  UnitState expand, dw, project, reduce;
  BackendBuffer se_pooled, se_hidden, se_gate;  // small: per image and channel
  BackendBuffer out;  // block output (project output + residual): the next block's input
};

}  // namespace detail

struct Replica::Impl {
  using BnIds = detail::BnIds;
  using ConvUnit = detail::ConvUnit;
  using SeUnit = detail::SeUnit;
  using OpUnits = detail::OpUnits;
  using UnitState = detail::UnitState;
  using OpState = detail::OpState;

  Replica& net;
  Backend& be;
  TensorStore& st;
  // The memory of every per-call buffer below (CallArena): a training step's and a scoring call's
  // buffers share it. Declared before them, so it outlives them.
  CallArena arena{be};

  ConvUnit stem;
  std::vector<OpUnits> fixed;
  std::vector<std::vector<OpUnits>> layers;  // [layer][choice]
  ConvUnit head;
  int fc_w = -1, fc_b = -1;

  // Every buffer below is backend memory (device memory for CUDA).
  // Training state: saved activations per position (stem, fixed..., layers..., head).
  UnitState stem_state{be, &arena}, head_state{be, &arena};
  BackendBuffer stem_out{be, &arena};  // the stem's activated output is the first block's input: kept
  // Transient activated outputs inside a block (expand, depthwise, SE), shared by all blocks:
  // written in forward, rebuilt in backward.
  BackendBuffer t_exp{be, &arena}, t_dw{be, &arena}, t_se{be, &arena}, t_head{be, &arena};
  std::vector<OpState> fixed_state, layer_state;
  BackendBuffer input{be, &arena}, pooled{be, &arena}, logits{be, &arena}, dlogits{be, &arena}, losses{be, &arena};
  // The batch as the backend sees it (device backends: uploaded images and labels) and the
  // normalisation constants.
  BackendBuffer batch_images{be, &arena}, batch_labels{be, &arena}, norm_mean{be}, norm_std{be};
  const int32_t* labels_dev = nullptr;
  // Input of each block in the last saved forward (a skip passes its input through, so these
  // point into earlier blocks' outputs); the last entry is the head's input.
  std::vector<const float*> block_in;
  BackendBuffer correct_dev{be, &arena};
  std::vector<float> loss_host;
  std::vector<uint8_t> correct_host;
  // Backward scratch, reused by every block: the block-level gradient ping-pong pair and the
  // unit-level intermediates.
  BackendBuffer g_a{be, &arena}, g_b{be, &arena}, s_pre{be, &arena}, s_mid1{be, &arena}, s_mid2{be, &arena},
      d_pooled{be, &arena}, d_head{be, &arena};
  // BN parameter gradients from fused backwards
  BackendBuffer t_dg{be, &arena}, t_db{be, &arena}, t_dg2{be, &arena}, t_db2{be, &arena};
  std::vector<BackendBuffer> staging;
  int staging_used = 0;
  // Evaluation: one shared set of unit buffers plus one block-output buffer per depth.
  OpState eval_state{be, &arena};
  UnitState eval_unit{be, &arena};
  std::vector<BackendBuffer> eval_depth;
  BackendBuffer eval_fixed_a{be, &arena}, eval_fixed_b{be, &arena};
  float momentum_override = -1.f;  // >= 0 during calibration (cumulative average)
  // During evaluate when scoring in bfloat16: 1x1 convs with bfloat16 products, and an MBConv
  // block's inner activations (expand and dw conv outputs) stored in bfloat16 (op_forward).
  bool bf16_convs = false;

  Impl(Replica& n) : net(n), be(*n.backend_), st(n.store_) {
    for (int i = 0; i < 6; i++) staging.emplace_back(be, &arena);
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
    arena.reset();
    block_in.clear();
    loss_host = {};
    correct_host = {};
  }

  int64_t call_buffer_bytes() const { return arena.capacity_bytes(); }

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

  // ---------------- registration (parameters.cpp) ----------------
  BnIds add_bn(const std::string& p, int C);
  ConvUnit add_conv(const std::string& p, int cin, int cout, int k, int stride, int H, int W, Act act, bool dw,
                    std::vector<int>* ids);
  OpUnits add_op(const std::string& p, const LayerDesc& l, const OpDesc& op);
  void build();
  void initialise(uint64_t seed);

  // ---------------- units and blocks (blocks.cpp) ----------------
  void bn_act(const ConvUnit& u, float* out, const float* pre, float* mean, float* invstd, int64_t M, BnMode mode);
  void update_running(const BnIds& b, const float* mean, const float* invstd, int64_t M);
  void unit_forward(const ConvUnit& u, int N, const float* x, float* out, UnitState& us, BnMode mode,
                    const BnAct* in_bn = nullptr, Bf16Io io = {}, float* pre_into = nullptr);
  // Evaluation units whose conv output nothing reads once the unit's own BN has made its output
  // (the stem and head, and a block's last unit, in evaluate / predict): their conv writes into
  // the output buffer and the BN runs in place there, so no full-batch conv-output buffer is kept
  // (100 MB on W1 at 1,000 scoring images). Training keeps every conv output for backward.
  bool transient(const UnitState& us) const {
    return &us == &eval_unit || &us == &eval_state.project || &us == &eval_state.reduce;
  }
  BnAct bnact_of(const ConvUnit& u, UnitState& us, BnMode mode = BnMode::Train);
  bool fuses_bn(BnMode mode) const { return mode != BnMode::Running || be.host_memory(); }
  // Where the bfloat16 scoring forward may store block outputs in bfloat16: the one-pass block
  // outputs of a fused BN (op_forward) from batch statistics (with running statistics every
  // activation stays float).
  bool block_output_in_bf16(BnMode mode) const { return bf16_convs && fuses_bn(mode) && mode != BnMode::Running; }
  void conv_of(const ConvUnit& u, float* pre, float* mean, float* invstd, float eps, const float* x,
               const BnAct* in_bn, const ConvShape& s, Bf16Io io);
  void unit_backward(const ConvUnit& u, int N, const float* x, UnitState& us, const float* dout, float* dx,
                     const BnAct* in_bn = nullptr);
  float* se_forward(const OpUnits& op, int N, const float* x, OpState& os);
  float* rebuild(const ConvUnit& u, int N, UnitState& us, BackendBuffer& into);
  const float* op_forward(const OpUnits& op, int N, const float* x, float* out, OpState& os, BnMode mode,
                          Bf16Io io = {});
  void block_output(const ConvUnit& u, int N, UnitState& us, const float* pre, BnMode mode, const float* residual,
                    float* out, Bf16Io io);
  void mbconv_eval(const OpUnits& op, int N, const float* x, float* out, OpState& os);
  float* conv_output_into(UnitState& us, const ConvUnit& u, int N, float* out);
  void op_backward(const OpUnits& op, const LayerDesc& l, int N, const float* x, OpState& os, const float* dy,
                   float* dx);

  // ---------------- whole path (path_execution.cpp) ----------------
  const float* prepare_input(const Batch& b);
  void queue_score(const float* lg, float* dl, float smoothing, int N);
  PathScore score(const float* lg, float* dl, float smoothing, int N);
  PathScore fetch_score(int N);

  int64_t layer_out_elems(const LayerDesc& l, int N) const { return int64_t(N) * l.out_height * l.out_width * l.cout; }

  const float* forward_saved(const std::vector<int>& arch, int N, BnMode mode);
  const float* head_forward(const float* x, int N, UnitState& hs, BnMode mode, bool x_bf16 = false);
  // ---------------- forward only (evaluation.cpp) ----------------
  const float* forward_stem_fixed(const float* x, int N, BnMode mode, bool stream16, bool* out16);
  const float* forward_unsaved(const std::vector<int>& arch, int N, BnMode mode);
  void backward_saved(const std::vector<int>& arch, int N);
};

}  // namespace gnas
