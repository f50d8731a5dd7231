// The public supernet over its replicas: each call checks the weights' health, forwards to the
// one replica or to the data parallelism over several, then applies the memory policy. Host
// writes, memory, trimming and failure recovery go to every replica.
#include "parallel/supernet.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>

#include "parallel/data_parallel.h"
#include "supernet/checkpoint.h"
#include "supernet/weight_health.h"

namespace gnas {

Supernet::Supernet(const SpaceDesc& space, const SupernetOptions& options) {
  if (options.gpus < 1) throw std::invalid_argument("gpus must be >= 1");
  primary_ = std::make_unique<Replica>(space, options);
  if (options.gpus > 1)
    parallel_ = std::make_unique<DataParallel>(*primary_, primary_->space(), primary_->options());
}

Supernet::~Supernet() = default;

int Supernet::replicas() const { return parallel_ ? parallel_->size() : 1; }

Replica& Supernet::replica(int r) { return r == 0 ? *primary_ : parallel_->replica(r); }
const Replica& Supernet::replica(int r) const { return r == 0 ? *primary_ : parallel_->replica(r); }

double Supernet::replica_divergence() { return parallel_ ? parallel_->max_divergence() : 0.0; }

void Supernet::write_tensor(int id, const float* host) {
  for (int r = 0; r < replicas(); r++) replica(r).store().write(id, host);
}

void Supernet::write_all(const float* values, const float* velocities) {
  for (int r = 0; r < replicas(); r++) replica(r).store().write_all(values, velocities);
}

void Supernet::require_finite(const std::string& call) const { primary_->health().require_finite(call); }

int64_t Supernet::memory_bytes() const {
  int64_t bytes = 0;
  for (int r = 0; r < replicas(); r++) bytes += replica(r).memory_bytes();
  return bytes;
}

void Supernet::trim_workspace() {
  for (int r = 0; r < replicas(); r++) replica(r).trim_workspace();
}

void Supernet::recover_after_failure() {
  for (int r = 0; r < replicas(); r++) replica(r).recover_after_failure();
  memory_.trimmed();
}

void Supernet::weights_restored() {
  for (int r = 0; r < replicas(); r++) replica(r).health().restored();
}

StepResult Supernet::accumulate_gradients(const std::vector<int>& arch, const Batch& batch) {
  require_finite("accumulateGradients");
  StepResult r;
  if (!parallel_) {
    r = primary_->accumulate_gradients(arch, batch);
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
  require_finite("applyUpdate");
  if (parallel_) parallel_->apply_update(lr);
  else primary_->apply_update(lr);
  check_updates("the training step (SGD update and BN running statistics)");
}

void Supernet::check_updates(const std::string& what) {
  // Every replica's flag is read (each flags its own shard's BN statistics before they are
  // averaged), replica 0's first.
  bool raised = false;
  for (int r = 0; r < replicas(); r++) raised = replica(r).health().raised() || raised;
  if (!raised) return;
  const std::string found = describe_nonfinite(store());
  const std::string detail = found.empty() ? "non-finite values on another replica" : found;
  primary_->health().poison(detail);
  throw NonFiniteError(what + " produced " + detail);
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

bool Supernet::scores_in_bf16() const { return primary_->scores_in_bf16(); }

void Supernet::predict(const std::vector<int>& arch, const Batch& batch, BnMode mode, float* logits) {
  require_finite("predict");
  primary_->predict(arch, batch, mode, logits);
  after_call(batch.n);
}

std::vector<PathScore> Supernet::evaluate(const std::vector<std::vector<int>>& archs, const Batch& batch, BnMode mode) {
  require_finite("evaluate");
  std::vector<PathScore> scores;
  if (!parallel_) {
    scores = primary_->evaluate(archs, batch, mode);
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
  require_finite("calibrateBn");
  if (parallel_) {
    check_arch(arch);
    if (batches.empty()) throw std::invalid_argument("calibrateBn needs at least one batch");
    for (const Batch& b : batches) check_batch(b, false);
    parallel_->calibrate_bn(arch, batches);
  } else {
    primary_->calibrate_bn(arch, batches);
  }
  check_updates("BN calibration");
  int largest = 0;
  for (const Batch& b : batches) largest = std::max(largest, b.n);
  after_call(largest);
}

void Supernet::save_checkpoint(const std::string& path, const std::string& extra) const {
  require_finite("save");  // the last good checkpoint must never be replaced by a diverged one
  gnas::save_checkpoint(store(), path, extra);
}

std::string Supernet::load_checkpoint(const std::string& path) {
  // Only after the whole file was checked is any replica touched.
  CheckpointContents c = read_checkpoint(store(), path);
  write_all(c.values.data(), c.velocities.data());
  for (TensorEntry& e : store().entries()) e.pending = false;
  weights_restored();
  return std::move(c.extra);
}

}  // namespace gnas
