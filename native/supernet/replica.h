// One replica of the weight-sharing supernet: every candidate op of every searchable layer with
// its own weights, on ONE backend (one device), trained and scored one path (arch) at a time.
//
//   Replica r(space, options);               options.device: the device; options.gpus is not read
//   r.accumulate_gradients(arch, batch)      forward (train BN), backward; gradients pending
//   r.apply_update(lr)                       SGD on the tensors with a pending gradient
//   r.evaluate(archs, batch, mode)           forward only; shared prefixes computed once
//   r.predict(arch, batch, mode, logits)     forward only, logits out
//   r.calibrate_bn(arch, batches)            re-estimate the path's running statistics
//
// Parameters of ops off the path get no update at all: no gradient, no momentum step, no
// weight decay. A replica knows nothing of other replicas: the public supernet
// (parallel/supernet.h) owns one per device, checks the weights' health, serialises the calls and
// gives memory back, and the data parallelism (parallel/data_parallel.h) shards batches over the
// replicas and averages their gradients. A replica is not thread-safe; one thread drives it.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/backend.h"
#include "supernet/space_desc.h"
#include "supernet/supernet_types.h"
#include "supernet/tensor_store.h"

namespace gnas {

class WeightHealth;

class Replica {
 public:
  // Checks the space (SpaceDesc::validate), creates the backend and registers and initialises
  // every tensor from options.seed: replicas built from the same seed hold the same bytes.
  Replica(const SpaceDesc& space, const SupernetOptions& options);
  ~Replica();

  const SpaceDesc& space() const { return space_; }
  TensorStore& store() { return store_; }
  const TensorStore& store() const { return store_; }
  Backend& backend() { return *backend_; }
  const SupernetOptions& options() const { return options_; }
  // The non-finite flag the updates of this replica raise (supernet/weight_health.h).
  WeightHealth& health() { return *health_; }
  const WeightHealth& health() const { return *health_; }

  // Throws std::invalid_argument naming the problem (length, choice out of range).
  void check_arch(const std::vector<int>& arch) const;
  void check_batch(const Batch& b, bool need_labels) const;

  // Forward + backward; gradients of the path's parameters are ADDED to the pending gradient
  // (so strict-fair training can sum several paths before one update). Returns loss/correct.
  StepResult accumulate_gradients(const std::vector<int>& arch, const Batch& batch);
  // One SGD step on every parameter with a pending gradient, then clears them. Raises the health
  // flag when a value it writes is not finite; reading the flag is the caller's part.
  void apply_update(float lr);
  std::vector<PathScore> evaluate(const std::vector<std::vector<int>>& archs, const Batch& batch, BnMode mode);
  void predict(const std::vector<int>& arch, const Batch& batch, BnMode mode, float* logits);
  // Whether evaluate computes its 1x1 convs with bfloat16 products (score_math and the backend).
  bool scores_in_bf16() const;
  // Resets the running statistics of the path's BN layers and re-estimates them as the plain
  // average of the batch statistics over `batches` (PyTorch's momentum=None).
  void calibrate_bn(const std::vector<int>& arch, const std::vector<Batch>& batches);

  // Normalised float input (NHWC) for a batch, as the first layer sees it.
  void normalize(const Batch& batch, float* out);

  int64_t path_parameter_count(const std::vector<int>& arch) const;
  // The BN running-statistics tensors (TensorKind::Buffer) a path uses, fixed parts included.
  std::vector<int> path_buffer_ids(const std::vector<int>& arch) const;

  // Native memory this replica holds now: weights, gradients, momentum, activation buffers and
  // backend scratch.
  int64_t memory_bytes() const;
  // Frees the activation buffers and the backend's scratch memory (regrown on demand).
  void trim_workspace();
  // After a call failed part-way (out of memory): drops every pending gradient and frees the
  // scratch memory, so the next call starts clean instead of failing again or applying stale state.
  void recover_after_failure();

 private:
  struct Impl;
  SpaceDesc space_;
  SupernetOptions options_;
  std::unique_ptr<Backend> backend_;
  TensorStore store_;
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<WeightHealth> health_;
};

}  // namespace gnas
