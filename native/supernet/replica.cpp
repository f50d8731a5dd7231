// One replica: construction, argument checks, the SGD update, predict and normalise, the path's
// tensors, and its memory. The graph itself is Replica::Impl (supernet_impl.h): its parameters in
// parameters.cpp, the block forward/backward code in blocks.cpp, one path's training forward,
// backward and scoring in path_execution.cpp, multi-path evaluation and BN calibration in
// evaluation.cpp.
#include "supernet/replica.h"

#include <stdexcept>

#include "backends/registry.h"
#include "supernet/supernet_impl.h"
#include "supernet/weight_health.h"

namespace gnas {

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

Replica::Replica(const SpaceDesc& space, const SupernetOptions& options)
    : space_(validated(space)),
      options_(options),
      backend_(make_backend(options.backend, backend_options(options))),
      store_(*backend_) {
  if (options.score_math != "fp32" && options.score_math != "bf16" && options.score_math != "auto")
    throw std::invalid_argument("scoreMath must be 'fp32', 'bf16' or 'auto', got '" + options.score_math + "'");
  health_ = std::make_unique<WeightHealth>(*backend_);
  impl_ = std::make_unique<Impl>(*this);
  impl_->build();
  impl_->initialise(options.seed);
}

Replica::~Replica() = default;

bool Replica::scores_in_bf16() const { return options_.score_math != "fp32" && backend_->fast_bf16(); }

void Replica::check_arch(const std::vector<int>& arch) const {
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

void Replica::check_batch(const Batch& b, bool need_labels) const {
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

int64_t Replica::memory_bytes() const {
  return store_.total() * 3 * int64_t(sizeof(float)) + impl_->call_buffer_bytes() + backend_->scratch_bytes();
}

void Replica::trim_workspace() {
  backend_->synchronize();  // nothing queued may still use the buffers
  impl_->trim();
  backend_->trim();
}

void Replica::recover_after_failure() {
  try {
    backend_->synchronize();
  } catch (...) {
    // the failure being recovered from may be the device's; the buffers are freed regardless
  }
  for (TensorEntry& e : store_.entries()) e.pending = false;
  impl_->trim();
  backend_->trim();
}

void Replica::apply_update(float lr) {
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

void Replica::normalize(const Batch& batch, float* out) {
  const float* x = impl_->prepare_input(batch);
  backend_->download(out, x, size_t(batch.n) * space_.height * space_.width * space_.channels * sizeof(float));
}

void Replica::predict(const std::vector<int>& arch, const Batch& batch, BnMode mode, float* logits) {
  check_arch(arch);
  check_batch(batch, false);
  Impl& m = *impl_;
  m.prepare_input(batch);
  // Forward only, through evaluate's buffers (nothing saved for a backward).
  const float* lg = m.forward_unsaved(arch, batch.n, mode == BnMode::Train ? BnMode::Batch : mode);
  backend_->download(logits, lg, size_t(batch.n) * space_.classes * sizeof(float));
}

// Which tensors a path uses: everything not under "layers." (stem, fixed blocks, head, fc) and
// the tensors of the chosen op of each layer.
static std::vector<bool> path_tensors(const TensorStore& st,
                                      const std::vector<std::vector<detail::OpUnits>>& layers,
                                      const std::vector<int>& arch) {
  std::vector<bool> on(st.entries().size(), false);
  for (size_t id = 0; id < st.entries().size(); id++)
    if (st.entries()[id].name.rfind("layers.", 0) != 0) on[id] = true;
  for (size_t l = 0; l < arch.size(); l++)
    for (int id : layers[l][size_t(arch[l])].tensor_ids) on[size_t(id)] = true;
  return on;
}

std::vector<int> Replica::path_buffer_ids(const std::vector<int>& arch) const {
  check_arch(arch);
  const std::vector<bool> on = path_tensors(store_, impl_->layers, arch);
  std::vector<int> ids;
  for (size_t id = 0; id < on.size(); id++)
    if (on[id] && store_.entries()[id].kind == TensorKind::Buffer) ids.push_back(int(id));
  return ids;
}

int64_t Replica::path_parameter_count(const std::vector<int>& arch) const {
  check_arch(arch);
  int64_t n = 0;
  const std::vector<bool> on = path_tensors(store_, impl_->layers, arch);
  for (size_t id = 0; id < on.size(); id++)
    if (on[id] && store_.entries()[id].kind == TensorKind::Param) n += store_.entries()[id].size;
  return n;
}

}  // namespace gnas
