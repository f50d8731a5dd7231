// The weight-sharing supernet: every candidate op of every searchable layer with its own
// weights, trained and scored one path (arch) at a time through a Backend.
//
//   Supernet net(space, options);
//   net.train_step(arch, batch, lr)          forward (train BN), backward, SGD on the path only
//   net.evaluate(archs, batch, mode)         forward only; shared prefixes computed once
//   net.predict(arch, batch, mode, logits)   forward only, logits out
//   net.calibrate_bn(arch, batches)          re-estimate the path's running statistics
//
// Parameters of ops off the path get no update at all: no gradient, no momentum step, no
// weight decay. All calls are serialised by an internal mutex, so concurrent calls from several
// AsyncWorkers queue instead of racing.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/backend.h"
#include "supernet/space_desc.h"
#include "supernet/tensor_store.h"
#include "supernet/workspace_policy.h"

namespace gnas {

class DataParallel;
class WeightHealth;

struct SupernetOptions {
  uint64_t seed = 0;
  int threads = 0;
  std::string backend = "cpu";   // "cpu" | "reference" | "cuda"
  int device = 0;                 // cuda: device ordinal
  std::string math = "fp32";      // cuda: GEMM arithmetic "fp32" | "tf32" | "bf16"
  int gpus = 1;                   // cuda: data-parallel replicas on devices device .. device+gpus-1
  float momentum = 0.9f;
  bool nesterov = true;
  float weight_decay = 4e-5f;          // conv and fc weights
  float weight_decay_no_decay = 0.0f;  // BN parameters and biases
  float label_smoothing = 0.1f;
  // Arithmetic of the 1x1 convs when scoring paths (evaluate; never training or predict):
  // "fp32", or "bf16" / "auto": bfloat16 products where the backend runs them fast
  // (Backend::fast_bf16: the cpu backend on AVX512-BF16 CPUs), FP32 elsewhere.
  std::string score_math = "auto";
};

// How batch norm behaves during a forward pass.
enum class BnMode : int {
  Train = 0,    // batch statistics, running statistics updated (training)
  Batch = 1,    // batch statistics, running statistics untouched (GreedyNAS scoring)
  Running = 2,  // running statistics (eval mode)
};

// A batch of images (borrowed; owned by the caller for the duration of the call).
struct Batch {
  const uint8_t* u8 = nullptr;  // NHWC 0..255, or
  const float* f32 = nullptr;   // NHWC in [0, 1]
  const int32_t* labels = nullptr;
  int n = 0;
};

struct PathScore {
  double loss = 0;     // mean cross-entropy, no smoothing
  int64_t correct = 0;
};

struct StepResult {
  double loss = 0;     // mean training loss, smoothing included
  int64_t correct = 0;
};

class Supernet {
 public:
  Supernet(const SpaceDesc& space, const SupernetOptions& options);
  ~Supernet();

  const SpaceDesc& space() const { return space_; }
  TensorStore& store() { return store_; }
  const TensorStore& store() const { return store_; }
  Backend& backend() { return *backend_; }
  const SupernetOptions& options() const { return options_; }
  std::mutex& mutex() { return mutex_; }

  // Throws std::invalid_argument naming the problem (length, choice out of range).
  void check_arch(const std::vector<int>& arch) const;
  void check_batch(const Batch& b, bool need_labels) const;

  // Forward + backward; gradients of the path's parameters are ADDED to the pending gradient
  // (so strict-fair training can sum several paths before one update). Returns loss/correct.
  StepResult accumulate_gradients(const std::vector<int>& arch, const Batch& batch);
  // One SGD step on every parameter with a pending gradient, then clears them.
  void apply_update(float lr);
  // accumulate_gradients + apply_update.
  StepResult train_step(const std::vector<int>& arch, const Batch& batch, float lr);

  std::vector<PathScore> evaluate(const std::vector<std::vector<int>>& archs, const Batch& batch, BnMode mode);
  // Whether evaluate computes its 1x1 convs with bfloat16 products (score_math and the backend).
  bool scores_in_bf16() const;
  void predict(const std::vector<int>& arch, const Batch& batch, BnMode mode, float* logits);
  // Resets the running statistics of the path's BN layers and re-estimates them as the plain
  // average of the batch statistics over `batches` (PyTorch's momentum=None).
  void calibrate_bn(const std::vector<int>& arch, const std::vector<Batch>& batches);

  // Normalised float input (NHWC) for a batch, as the first layer sees it.
  void normalize(const Batch& batch, float* out);

  int64_t path_parameter_count(const std::vector<int>& arch) const;
  // The BN running-statistics tensors (TensorKind::Buffer) a path uses, fixed parts included.
  std::vector<int> path_buffer_ids(const std::vector<int>& arch) const;

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

  // Host writes of tensor values, to every replica when data-parallel.
  void write_tensor(int id, const float* host);
  void write_all(const float* values, const float* velocities);
  // Data parallelism: number of replicas (1 = none), and the largest difference between replica
  // 0's tensors and any other's (0 when they are bit-identical, as they should be).
  int replicas() const;
  double replica_divergence();

 private:
  friend class DataParallel;
  // The single-device implementations (what each replica runs).
  StepResult accumulate_local(const std::vector<int>& arch, const Batch& batch);
  void apply_update_local(float lr);
  std::vector<PathScore> evaluate_local(const std::vector<std::vector<int>>& archs, const Batch& batch, BnMode mode);
  void calibrate_bn_local(const std::vector<int>& arch, const std::vector<Batch>& batches);

  struct Impl;
  SpaceDesc space_;
  SupernetOptions options_;
  std::unique_ptr<Backend> backend_;
  TensorStore store_;
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<DataParallel> parallel_;  // gpus > 1 only
  std::unique_ptr<WeightHealth> health_;
  // Poisons the supernet and throws NonFiniteError naming the tensors when an update of any
  // replica raised its flag; `what` names the update ("the SGD update", "BN calibration").
  void check_updates(const std::string& what);
  WorkspacePolicy memory_;
  void after_call(int n) {
    if (memory_.after_call(n)) trim_workspace();
  }
  std::mutex mutex_;
};

}  // namespace gnas
