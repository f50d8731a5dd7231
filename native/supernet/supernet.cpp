// The supernet's facade: construction, argument checks, the public calls (each one forwarding to
// the single-device implementation or to the data-parallel replicas), the SGD update, workspace
// and failure handling. The graph itself is Supernet::Impl (supernet_impl.h): its parameters in
// parameters.cpp, the block forward/backward code in blocks.cpp, one path's training forward,
// backward and scoring in path_execution.cpp, multi-path evaluation and BN calibration in
// evaluation.cpp.
#include "supernet/supernet.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "backends/registry.h"
#include "parallel/data_parallel.h"
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

Supernet::Supernet(const SpaceDesc& space, const SupernetOptions& options)
    : space_(validated(space)),
      options_(options),
      backend_(make_backend(options.backend, backend_options(options))),
      store_(*backend_) {
  if (options.gpus < 1) throw std::invalid_argument("gpus must be >= 1");
  if (options.score_math != "fp32" && options.score_math != "bf16" && options.score_math != "auto")
    throw std::invalid_argument("scoreMath must be 'fp32', 'bf16' or 'auto', got '" + options.score_math + "'");
  health_ = std::make_unique<WeightHealth>(*backend_);
  impl_ = std::make_unique<Impl>(*this);
  impl_->build();
  impl_->initialise(options.seed);
  if (options.gpus > 1) parallel_ = std::make_unique<DataParallel>(*this, space_, options_);
}

Supernet::~Supernet() = default;

bool Supernet::scores_in_bf16() const {
  return options_.score_math != "fp32" && !parallel_ && backend_->fast_bf16();
}

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
  // Forward only, through evaluate's buffers (nothing saved for a backward).
  const float* lg = m.forward_unsaved(arch, batch.n, mode == BnMode::Train ? BnMode::Batch : mode);
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
