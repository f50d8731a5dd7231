// Scoring many paths on one batch: the stem and fixed blocks once, then a depth-first walk over
// the trie of the archs so that shared prefixes are computed once; and BN calibration of a path
// (its running statistics re-estimated from batch statistics) before it is evaluated.
#include <algorithm>
#include <functional>
#include <numeric>
#include <stdexcept>

#include "supernet/supernet_impl.h"

namespace gnas {

using namespace detail;

std::vector<PathScore> Replica::evaluate(const std::vector<std::vector<int>>& archs, const Batch& batch,
                                                BnMode mode) {
  if (archs.empty()) throw std::invalid_argument("no archs to evaluate");
  for (const auto& a : archs) check_arch(a);
  check_batch(batch, true);
  if (mode == BnMode::Train) mode = BnMode::Batch;  // scoring never touches running statistics
  Impl& m = *impl_;
  const int N = batch.n;
  const SpaceDesc& sp = space_;
  const float* x = m.prepare_input(batch);
  struct Bf16Scope {  // bfloat16 1x1 convs for this call only, also when it throws
    bool& flag;
    ~Bf16Scope() { flag = false; }
  } bf16_scope{m.bf16_convs};
  m.bf16_convs = scores_in_bf16();

  // Block outputs (the residual stream) stored in bfloat16 too while scoring in bfloat16 with batch
  // statistics: every block reads its input and writes its output at half the bytes.
  const bool stream16 = m.block_output_in_bf16(mode);
  // stem and fixed blocks once for all paths
  bool cur16 = false;
  const float* cur = m.forward_stem_fixed(x, N, mode, stream16, &cur16);

  // Depth-first over the trie of archs (sorted), so paths sharing their first j choices share
  // the activations of those j layers.
  std::vector<int> order(archs.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return archs[size_t(a)] < archs[size_t(b)]; });
  std::vector<PathScore> scores(archs.size());
  const int L = int(sp.layers.size());

  // in16: how `in` is stored
  std::function<void(int, int, int, const float*, bool)> dfs = [&](int depth, int lo, int hi, const float* in,
                                                                   bool in16) {
    if (depth == L) {
      const float* lg = m.head_forward(in, N, m.eval_unit, mode, in16);
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
      const OpUnits& op = m.layers[size_t(depth)][size_t(choice)];
      const float* o = m.op_forward(op, N, in, out, m.eval_state, mode, Bf16Io{in16, stream16});
      dfs(depth + 1, i, j, o, op.kind == OpKind::Skip ? in16 : stream16);
      i = j;
    }
  };
  dfs(0, 0, int(archs.size()), cur, cur16);
  return scores;
}

// The stem and the fixed blocks into the evaluation buffers (nothing kept for a backward).
// stream16: the fixed blocks write their outputs in bfloat16 (see evaluate); *out16 says how the
// returned tensor is stored (the stem's output is float; a skip passes its input on).
const float* Replica::Impl::forward_stem_fixed(const float* x, int N, BnMode mode, bool stream16, bool* out16) {
  const SpaceDesc& sp = net.space_;
  ConvShape ss = stem.shape;
  ss.N = N;
  float* h = eval_fixed_a.ensure(ss.out_size());
  unit_forward(stem, N, x, h, eval_unit, mode);
  const float* cur = h;
  bool cur16 = false;
  for (size_t i = 0; i < fixed.size(); i++) {
    BackendBuffer& dst = (cur == eval_fixed_a.data()) ? eval_fixed_b : eval_fixed_a;
    float* out = dst.ensure(layer_out_elems(sp.fixed[i], N));
    cur = op_forward(fixed[i], N, cur, out, eval_state, mode, Bf16Io{cur16, stream16});
    if (fixed[i].kind != OpKind::Skip) cur16 = stream16;
  }
  *out16 = cur16;
  return cur;
}

// One path's forward through the evaluation buffers (predict): the same buffers for every block,
// so a forward-only pass touches a fraction of the memory that the saved-activation forward of
// training does and stays in cache. Returns the logits.
const float* Replica::Impl::forward_unsaved(const std::vector<int>& arch, int N, BnMode mode) {
  const SpaceDesc& sp = net.space_;
  bool cur16 = false;
  const float* cur = forward_stem_fixed(input.data(), N, mode, false, &cur16);
  for (size_t l = 0; l < layers.size(); l++) {
    float* out = eval_depth[l].ensure(layer_out_elems(sp.layers[l], N));
    cur = op_forward(layers[l][size_t(arch[l])], N, cur, out, eval_state, mode);
  }
  return head_forward(cur, N, eval_unit, mode);
}

void Replica::calibrate_bn(const std::vector<int>& arch, const std::vector<Batch>& batches) {
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

}  // namespace gnas
