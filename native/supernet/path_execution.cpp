// One path (arch) end to end: the batch normalised into the input, the training forward that
// saves every activation, the backward through the saved blocks, and the softmax cross-entropy
// scoring; and the single-device training step built from them.
#include <utility>

#include "supernet/supernet_impl.h"

namespace gnas {

using namespace detail;

// ---------------- whole path ----------------
// Normalises the batch into `input` (uploading images and labels first on a device backend).
// Every call that runs the network starts here: a new call of the arena, whose buffers the call
// then sizes afresh (what the last call left in them is dead).
const float* Replica::Impl::prepare_input(const Batch& b) {
  arena.begin_call();
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
void Replica::Impl::queue_score(const float* lg, float* dl, float smoothing, int N) {
  float* loss = losses.ensure(N);
  uint8_t* correct = correct_dev.ensure_as<uint8_t>(N);
  be.softmax_xent(loss, correct, dl, lg, labels_dev, smoothing, N, net.space_.classes);
}
PathScore Replica::Impl::score(const float* lg, float* dl, float smoothing, int N) {
  queue_score(lg, dl, smoothing, N);
  return fetch_score(N);
}
PathScore Replica::Impl::fetch_score(int N) {
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

// Training forward: every activation saved in the per-position states. Returns the logits.
const float* Replica::Impl::forward_saved(const std::vector<int>& arch, int N, BnMode mode) {
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

// x_bf16: x stored in bfloat16 (the block outputs of a bfloat16-scoring forward).
const float* Replica::Impl::head_forward(const float* x, int N, UnitState& hs, BnMode mode, bool x_bf16) {
  const SpaceDesc& sp = net.space_;
  ConvShape s = head.shape;
  s.N = N;
  float* h = t_head.ensure(s.out_size());  // GAP's backward does not need its input
  float* p = pooled.ensure(int64_t(N) * sp.head_cout);
  if (mode == BnMode::Running && &hs == &eval_unit && be.host_memory() && !x_bf16 && !bf16_convs) {
    // eval mode: conv, BN and pooling in one call (the backend may pool the head's output in cache)
    const BnIds& b = head.bn;
    be.head_forward_eval(p, x, st.value(head.w), s, st.value(b.gamma), st.value(b.beta), st.value(b.mean),
                         st.value(b.var), sp.bn_eps, head.act, h);
  } else {
    unit_forward(head, N, x, h, hs, mode, nullptr, Bf16Io{x_bf16, false});
    be.gap_forward(p, h, N, s.P * s.Q, sp.head_cout);
  }
  float* lg = logits.ensure(int64_t(N) * sp.classes);
  be.fc_forward(lg, p, st.value(fc_w), st.value(fc_b), N, sp.head_cout, sp.classes);
  return lg;
}

void Replica::Impl::backward_saved(const std::vector<int>& arch, int N) {
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

// ======================================================================================
// The training step on one device (what each data-parallel replica runs).

StepResult Replica::accumulate_gradients(const std::vector<int>& arch, const Batch& batch) {
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

}  // namespace gnas
