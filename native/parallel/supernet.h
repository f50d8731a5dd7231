// The weight-sharing supernet as the addon, the tests and the benchmarks use it: one replica
// (supernet/replica.h) per device, 1 by default, options.gpus = R > 1 for data parallelism over
// R GPUs (parallel/data_parallel.h).
//
//   Supernet net(space, options);
//   net.train_step(arch, batch, lr)          forward (train BN), backward, SGD on the path only
//   net.evaluate(archs, batch, mode)         forward only; shared prefixes computed once
//   net.predict(arch, batch, mode, logits)   forward only, logits out
//   net.calibrate_bn(arch, batches)          re-estimate the path's running statistics
//   net.save_checkpoint(path, extra)         supernet/checkpoint.h; load_checkpoint(path)
//
// What it adds to the replicas: the calls' argument checks, the guard on non-finite weights
// (supernet/weight_health.h), host writes of tensors to every replica, the memory policy
// (supernet/workspace_policy.h) and the mutex that serialises calls. Reads (store(), backend(),
// checkpoints written) come from replica 0: the replicas hold the same bytes.
// The mutex is the caller's to take: concurrent calls from several AsyncWorkers lock it and
// queue instead of racing.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/backend.h"
#include "supernet/replica.h"
#include "supernet/space_desc.h"
#include "supernet/supernet_types.h"
#include "supernet/tensor_store.h"
#include "supernet/workspace_policy.h"

namespace gnas {

class DataParallel;

class Supernet {
 public:
  // Throws std::invalid_argument for gpus < 1, an invalid space or backend, and (gpus > 1) a
  // backend other than cuda or no loadable NCCL.
  Supernet(const SpaceDesc& space, const SupernetOptions& options);
  ~Supernet();

  const SpaceDesc& space() const { return primary_->space(); }
  TensorStore& store() { return primary_->store(); }
  const TensorStore& store() const { return primary_->store(); }
  Backend& backend() { return primary_->backend(); }
  const SupernetOptions& options() const { return primary_->options(); }
  std::mutex& mutex() { return mutex_; }

  // Throws std::invalid_argument naming the problem (length, choice out of range).
  void check_arch(const std::vector<int>& arch) const { primary_->check_arch(arch); }
  void check_batch(const Batch& b, bool need_labels) const { primary_->check_batch(b, need_labels); }

  // Forward + backward; gradients of the path's parameters are ADDED to the pending gradient
  // (so strict-fair training can sum several paths before one update). Returns loss/correct.
  StepResult accumulate_gradients(const std::vector<int>& arch, const Batch& batch);
  // One SGD step on every parameter with a pending gradient, then clears them.
  void apply_update(float lr);
  // accumulate_gradients + apply_update.
  StepResult train_step(const std::vector<int>& arch, const Batch& batch, float lr);

  std::vector<PathScore> evaluate(const std::vector<std::vector<int>>& archs, const Batch& batch, BnMode mode);
  void predict(const std::vector<int>& arch, const Batch& batch, BnMode mode, float* logits);
  // Whether evaluate computes its 1x1 convs with bfloat16 products (score_math and the backend).
  bool scores_in_bf16() const;
  // Resets the running statistics of the path's BN layers and re-estimates them as the plain
  // average of the batch statistics over `batches` (PyTorch's momentum=None).
  void calibrate_bn(const std::vector<int>& arch, const std::vector<Batch>& batches);

  // Normalised float input (NHWC) for a batch, as the first layer sees it.
  void normalize(const Batch& batch, float* out) { primary_->normalize(batch, out); }

  int64_t path_parameter_count(const std::vector<int>& arch) const { return primary_->path_parameter_count(arch); }
  // The BN running-statistics tensors (TensorKind::Buffer) a path uses, fixed parts included.
  std::vector<int> path_buffer_ids(const std::vector<int>& arch) const { return primary_->path_buffer_ids(arch); }

  // Checkpoints (supernet/checkpoint.h): replica 0's tensors are written; a file is checked whole
  // before its values go to every replica. Saving a poisoned supernet throws NonFiniteError.
  void save_checkpoint(const std::string& path, const std::string& extra) const;
  // Returns the caller's string stored with the tensors.
  std::string load_checkpoint(const std::string& path);

  // Non-finite weights (supernet/weight_health.h): train_step / apply_update throw NonFiniteError
  // naming the tensors when an update produced inf or NaN; from then on every compute call and
  // checkpoint save throws too, until weights_restored() (a checkpoint with finite values loaded).
  void require_finite(const std::string& call) const;
  void weights_restored();

  // Frees the activation buffers and the backend's scratch memory on every replica (regrown on
  // demand). Runs by itself after an oversized call (supernet/workspace_policy.h).
  void trim_workspace();
  // Native memory this supernet holds now (weights, gradients, momentum, activation buffers and
  // backend scratch; every replica): reported to V8 so its garbage collector sees the real cost.
  int64_t memory_bytes() const;
  // After a call failed part-way (out of memory): drops gradients that call may have half
  // accumulated (every pending gradient: the caller was told the call failed) and frees the
  // scratch memory, so the next call starts clean instead of failing again or applying stale state.
  void recover_after_failure();

  // Host writes of tensor values, to every replica.
  void write_tensor(int id, const float* host);
  void write_all(const float* values, const float* velocities);
  // Data parallelism: number of replicas (1 = none), and the largest difference between replica
  // 0's tensors and any other's (0 when they are bit-identical, as they should be).
  int replicas() const;
  double replica_divergence();

 private:
  Replica& replica(int r);
  const Replica& replica(int r) const;
  // Poisons the supernet and throws NonFiniteError naming the tensors when an update of any
  // replica raised its flag; `what` names the update ("the SGD update", "BN calibration").
  void check_updates(const std::string& what);
  void after_call(int n) {
    if (memory_.after_call(n)) trim_workspace();
  }

  std::unique_ptr<Replica> primary_;        // replica 0, on options.device
  std::unique_ptr<DataParallel> parallel_;  // gpus > 1 only: replicas 1.. and their NCCL communicators
  WorkspacePolicy memory_;
  std::mutex mutex_;
};

}  // namespace gnas
