// The forward and backward of every block kind: conv (dense or depthwise) -> BN -> activation
// units, squeeze-excite, and the skip / conv 1x1 / MBConv blocks built from them, with the fused
// BN paths (a consumer applies its producer's BN on the fly). All arithmetic goes through the
// Backend; this file only sequences ops over the saved activations.
#include <cmath>
#include <stdexcept>
#include <utility>

#include "supernet/supernet_impl.h"
#include "supernet/weight_health.h"

namespace gnas {

using namespace detail;

// ---------------- units ----------------
void Replica::Impl::bn_act(const ConvUnit& u, float* out, const float* pre, float* mean, float* invstd, int64_t M,
                            BnMode mode) {
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

void Replica::Impl::update_running(const BnIds& b, const float* mean, const float* invstd, int64_t M) {
  const float m = momentum_override >= 0 ? momentum_override : net.space_.bn_momentum;
  be.bn_update_running(st.value(b.mean), st.value(b.var), mean, invstd, net.space_.bn_eps, m, M, b.C,
                       net.health_->flag());
}

// conv -> BN -> act into `out`; `us` receives the saved conv output and statistics.
// in_bn: the conv's input is given pre-BN (x is the producer's saved conv output) and activated
// on the fly. out == null: the activated output is not materialised (its consumer fuses it).
// io (bfloat16 scoring only): x and/or the saved conv output stored in bfloat16; a unit whose
// output is stored so must leave its activation to the consumer (out == null). The conv output
// goes to pre_into when given, else where conv_output_into says.
void Replica::Impl::unit_forward(const ConvUnit& u, int N, const float* x, float* out, UnitState& us, BnMode mode,
                                  const BnAct* in_bn, Bf16Io io, float* pre_into) {
  if (io.out && out) throw std::logic_error("a bfloat16-stored unit output cannot be activated in place");
  ConvShape s = u.shape;
  s.N = N;
  float* pre = pre_into ? pre_into : conv_output_into(us, u, N, out);
  const int64_t M = int64_t(N) * s.P * s.Q;
  if (mode == BnMode::Running) {
    conv_of(u, pre, nullptr, nullptr, 0.f, x, in_bn, s, io);
    if (out) bn_act(u, out, pre, us.mean.ensure(s.K), us.invstd.ensure(s.K), M, mode);
    return;
  }
  float* mean = us.mean.ensure(s.K);
  float* invstd = us.invstd.ensure(s.K);
  conv_of(u, pre, mean, invstd, net.space_.bn_eps, x, in_bn, s, io);
  if (out) be.bn_act_apply(out, pre, mean, invstd, st.value(u.bn.gamma), st.value(u.bn.beta), u.act, M, s.K);
  if (mode == BnMode::Train) update_running(u.bn, mean, invstd, M);
}
// The unit's conv: bfloat16 products for the 1x1 stride-1 convs while scoring in bfloat16 (the
// bulk of the FLOPs; depthwise products and the stem stay FP32), FP32 otherwise; bfloat16
// storage of its input or output as io says.
void Replica::Impl::conv_of(const ConvUnit& u, float* pre, float* mean, float* invstd, float eps, const float* x,
                             const BnAct* in_bn, const ConvShape& s, Bf16Io io) {
  const bool stored16 = io.in || io.out;
  if (stored16 && !bf16_convs) throw std::logic_error("bfloat16 storage outside bfloat16 scoring");
  if (u.depthwise) {
    if (stored16) be.dwconv_forward_fused_bf16(pre, mean, invstd, eps, x, in_bn, st.value(u.w), s, io);
    else be.dwconv_forward_fused(pre, mean, invstd, eps, x, in_bn, st.value(u.w), s);
  } else if (stored16 || (bf16_convs && s.k == 1 && s.stride == 1 && s.pad == 0)) {
    be.conv_forward_fused_bf16(pre, mean, invstd, eps, x, in_bn, st.value(u.w), s, io);
  } else {
    be.conv_forward_fused(pre, mean, invstd, eps, x, in_bn, st.value(u.w), s);
  }
}

// The unit's BN+act for a consumer that applies it on the fly. Train / Batch: the batch statistics
// the forward saved. Running (host memory only, see fuses_bn): the running statistics, with
// invstd = 1 / sqrt(running var + eps) computed here from the current values, so nothing is
// cached across calls and a weight update can never leave a stale copy behind.
BnAct Replica::Impl::bnact_of(const ConvUnit& u, UnitState& us, BnMode mode) {
  BnAct b;
  b.gamma = st.value(u.bn.gamma); b.beta = st.value(u.bn.beta); b.act = u.act;
  if (mode != BnMode::Running) {
    b.mean = us.mean.data(); b.invstd = us.invstd.data();
    return b;
  }
  float* invstd = us.invstd.ensure(u.bn.C);
  const float* var = st.value(u.bn.var);
  for (int c = 0; c < u.bn.C; c++) invstd[c] = float(1.0 / std::sqrt(double(var[c]) + double(net.space_.bn_eps)));
  b.mean = st.value(u.bn.mean); b.invstd = invstd;
  return b;
}

// dx may be null. dout is the gradient of the unit's output. in_bn: see unit_forward (x pre-BN).
void Replica::Impl::unit_backward(const ConvUnit& u, int N, const float* x, UnitState& us, const float* dout,
                                   float* dx, const BnAct* in_bn) {
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

float* Replica::Impl::se_forward(const OpUnits& op, int N, const float* x, OpState& os) {
  const SeUnit& se = op.se;
  const SEShape ss = se.shape(N);
  float* y = t_se.ensure(int64_t(N) * se.HW * se.C);
  be.se_forward(y, os.se_pooled.ensure(int64_t(N) * se.C), os.se_hidden.ensure(int64_t(N) * se.R),
                os.se_gate.ensure(int64_t(N) * se.C), x, st.value(se.w1), st.value(se.b1), st.value(se.w2),
                st.value(se.b2), ss);
  return y;
}

// Rebuilds a unit's activated output from its saved conv output and statistics.
float* Replica::Impl::rebuild(const ConvUnit& u, int N, UnitState& us, BackendBuffer& into) {
  ConvShape s = u.shape;
  s.N = N;
  float* y = into.ensure(s.out_size());
  be.bn_act_apply(y, us.pre.data(), us.mean.data(), us.invstd.data(), st.value(u.bn.gamma), st.value(u.bn.beta),
                  u.act, int64_t(N) * s.P * s.Q, s.K);
  return y;
}

// Forward of one block. Returns the block output: `out` (which must hold layer_out_elems), or x
// itself for a skip. io (bfloat16 scoring only): io.in, x is stored in bfloat16; io.out, `out` is
// written so (a skip returns x as it is stored). Where the BN is fused (host memory, any
// statistics) the block output is made in one pass, BN (+ act) and the residual together
// (bn_act_residual_apply); otherwise the unit's own BN pass and a separate residual add.
const float* Replica::Impl::op_forward(const OpUnits& op, int N, const float* x, float* out, OpState& os,
                                        BnMode mode, Bf16Io io) {
  // fuse: BN applied by its consumer on the fly, and the block output made in one pass
  const bool fuse = fuses_bn(mode);
  if ((io.in || io.out) && !block_output_in_bf16(mode))
    throw std::logic_error("bfloat16 block outputs only while scoring in bfloat16 with batch statistics");
  switch (op.kind) {
    case OpKind::Skip:
      return x;
    case OpKind::Conv1x1: {
      if (!fuse) {
        unit_forward(op.reduce, N, x, out, os.reduce, mode);
        return out;
      }
      float* pre = conv_output_into(os.reduce, op.reduce, N, out);
      unit_forward(op.reduce, N, x, nullptr, os.reduce, mode, nullptr, Bf16Io{io.in, io.out}, pre);
      block_output(op.reduce, N, os.reduce, pre, mode, nullptr, out, io);
      return out;
    }
    case OpKind::MBConv:
      break;
  }
  // Running statistics reach op_forward only for the evaluation state, in float (io is checked
  // above): without bfloat16 products the whole block is one backend call.
  if (mode == BnMode::Running && fuse && !bf16_convs && &os == &eval_state) {
    mbconv_eval(op, N, x, out, os);
    return out;
  }
  // Scoring in bfloat16: the fused (never activated in place) inner activations are stored in
  // bfloat16, halving the memory traffic of the memory-bound expand -> dw -> project chain; so is
  // the project conv's output where the block output is (io.out), the block output then made in
  // place over it.
  const bool expand16 = bf16_convs && fuse && op.has_expand;
  const bool dw16 = bf16_convs && fuse && !op.has_se;
  const float* h = x;
  bool h16 = io.in;  // how h is stored
  BnAct bn_e, bn_d;
  const BnAct* in_dw = nullptr;
  if (op.has_expand) {
    ConvShape s = op.expand.shape;
    s.N = N;
    if (fuse) {
      unit_forward(op.expand, N, h, nullptr, os.expand, mode, nullptr, Bf16Io{h16, expand16});
      bn_e = bnact_of(op.expand, os.expand, mode);
      in_dw = &bn_e;
      h = os.expand.pre.data();
    } else {
      float* e = t_exp.ensure(s.out_size());
      unit_forward(op.expand, N, h, e, os.expand, mode, nullptr, Bf16Io{h16, false});
      h = e;
    }
    h16 = expand16;
  }
  const BnAct* in_proj = nullptr;
  {
    ConvShape s = op.dw.shape;
    s.N = N;
    if (fuse && !op.has_se) {
      unit_forward(op.dw, N, h, nullptr, os.dw, mode, in_dw, Bf16Io{h16, dw16});
      bn_d = bnact_of(op.dw, os.dw, mode);
      in_proj = &bn_d;
      h = os.dw.pre.data();
    } else {
      float* d = t_dw.ensure(s.out_size());
      unit_forward(op.dw, N, h, d, os.dw, mode, in_dw, Bf16Io{h16, false});
      h = d;
    }
    h16 = dw16;
  }
  if (op.has_se) h = se_forward(op, N, h, os);
  const float* residual = op.residual ? x : nullptr;
  if (fuse) {
    float* pre = conv_output_into(os.project, op.project, N, out);
    unit_forward(op.project, N, h, nullptr, os.project, mode, in_proj, Bf16Io{h16, io.out}, pre);
    block_output(op.project, N, os.project, pre, mode, residual, out, io);
    return out;
  }
  unit_forward(op.project, N, h, out, os.project, mode, in_proj, Bf16Io{h16, false});
  if (residual) {
    ConvShape s = op.project.shape;
    s.N = N;
    be.add_inplace(out, residual, s.out_size());
  }
  return out;
}

// An eval-mode block (running statistics) of the evaluation state in one backend call: nothing
// reads its units' conv outputs afterwards, so the backend may keep the inner tensors in cache
// instead (mbconv_forward_eval); the unit buffers are its scratch where it runs the unfused ops.
void Replica::Impl::mbconv_eval(const OpUnits& op, int N, const float* x, float* out, OpState& os) {
  Backend::MbconvEval b;
  float* expand_buf = nullptr;
  if (op.has_expand) {
    b.expand_w = st.value(op.expand.w);
    b.expand_bn = bnact_of(op.expand, os.expand, BnMode::Running);
    b.expand = op.expand.shape;
    b.expand.N = N;
    expand_buf = os.expand.pre.ensure(b.expand.out_size());
  }
  b.dw_w = st.value(op.dw.w);
  b.dw_bn = bnact_of(op.dw, os.dw, BnMode::Running);
  b.dw = op.dw.shape;
  b.dw.N = N;
  b.project_w = st.value(op.project.w);
  b.project_bn = bnact_of(op.project, os.project, BnMode::Running);
  b.project = op.project.shape;
  b.project.N = N;
  b.residual = op.residual ? x : nullptr;
  if (op.has_se) {
    const SeUnit& se = op.se;
    b.se_w1 = st.value(se.w1);
    b.se_b1 = st.value(se.b1);
    b.se_w2 = st.value(se.w2);
    b.se_b2 = st.value(se.b2);
    b.se = se.shape(N);
    b.se_pooled = os.se_pooled.ensure(int64_t(N) * se.C);
    b.se_hidden = os.se_hidden.ensure(int64_t(N) * se.R);
    b.se_gate = os.se_gate.ensure(int64_t(N) * se.C);
  }
  be.mbconv_forward_eval(out, x, b, expand_buf, os.dw.pre.ensure(b.dw.out_size()));
}

// Where a unit writes its conv output: `out` itself (its BN then runs in place) for a transient
// unit, else the unit's saved conv output. A block output stored in bfloat16 (io.out) has its conv
// output stored so too (op_forward), so the two have the same size either way.
float* Replica::Impl::conv_output_into(UnitState& us, const ConvUnit& u, int N, float* out) {
  if (out && transient(us)) return out;
  ConvShape s = u.shape;
  s.N = N;
  return us.pre.ensure(s.out_size());
}

// out = act(BN(pre, the unit's conv output)) + residual, with the statistics of `mode` (those the
// unit's forward saved, or the running ones); io as op_forward's (io.in: the residual's storage;
// io.out: out's and pre's). pre may be out (in place).
void Replica::Impl::block_output(const ConvUnit& u, int N, UnitState& us, const float* pre, BnMode mode,
                                  const float* residual, float* out, Bf16Io io) {
  ConvShape s = u.shape;
  s.N = N;
  const BnAct b = bnact_of(u, us, mode);
  be.bn_act_residual_apply(out, pre, b.mean, b.invstd, b.gamma, b.beta, b.act, residual, int64_t(N) * s.P * s.Q,
                           s.K, io);
}

// Backward of one block: dy is the gradient of its output; writes dx (input gradient).
// For a skip, dx = dy (copied). `x` is the block input as the forward saw it.
void Replica::Impl::op_backward(const OpUnits& op, const LayerDesc& l, int N, const float* x, OpState& os,
                                 const float* dy, float* dx) {
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
  const ConvUnit& pu = op.project;
  const ConvUnit& du = op.dw;
  ConvShape ps = pu.shape;
  ps.N = N;
  if (op.has_se) {
    // The project conv's input is the gated depthwise output, rebuilt here (the forward keeps only
    // conv outputs) with the gate the forward saved, and the squeeze-excite's backward stands
    // between it and the depthwise unit.
    const SeUnit& se = op.se;
    const SEShape ss = se.shape(N);
    const float* dw_out = rebuild(du, N, os.dw, t_dw);
    float* proj_in = t_se.ensure(int64_t(N) * se.HW * se.C);
    be.se_scale(proj_in, dw_out, os.se_gate.data(), ss);
    unit_backward(pu, N, proj_in, os.project, dy, d_mid);
    float* d_dw = s_mid2.ensure(ds.out_size());
    Sink w1 = sink(se.w1), b1 = sink(se.b1), w2 = sink(se.w2), b2 = sink(se.b2);
    be.se_backward(d_dw, w1.ptr, b1.ptr, w2.ptr, b2.ptr, d_mid, dw_out, os.se_pooled.data(), os.se_hidden.data(),
                   os.se_gate.data(), st.value(se.w1), st.value(se.w2), ss);
    commit({&w1, &b1, &w2, &b2});
    std::swap(s_mid1, s_mid2);
    d_mid = s_mid1.data();
    // The dw BN's parameter gradients (its first pass, no input gradient); the fused depthwise
    // backward below runs its second pass on the fly, as without squeeze-excite.
    be.bn_act_backward(nullptr, t_dg.ensure(du.shape.K), t_db.ensure(du.shape.K), d_mid, os.dw.pre.data(),
                       bn_d.mean, bn_d.invstd, bn_d.gamma, bn_d.beta, bn_d.act, int64_t(N) * ds.P * ds.Q, ds.K);
  } else {
    // Fused backward: no separate BN pass for the expand and dw units. The project conv's
    // backward yields the dw BN's parameter gradients; the dw backward runs that BN's input
    // gradient on the fly and yields the expand BN's; the expand backward runs the expand BN's.
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

}  // namespace gnas
