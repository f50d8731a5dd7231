// Data parallelism over several GPUs of one process (parallel/supernet.h with options.gpus =
// R > 1).
//
// R replicas (supernet/replica.h), one per device, start from the same seed and so the same
// weights. A training step takes ONE path (chosen once, by the caller) and splits the batch into
// R equal shards; every replica runs forward + backward on its shard (one host thread per
// device); the gradients of the tensors on the path are then averaged with an NCCL all-reduce on
// the replicas' own streams, and so are the path's BN running statistics (each replica
// normalises with the statistics of its own shard, as PyTorch's DDP without SyncBatchNorm does);
// every replica then applies the same SGD update to the same values, so the replicas stay
// bit-identical (max_divergence() checks it). Scoring (evaluate) spreads the m paths of a
// GreedyNAS round over the replicas, each on the whole scoring batch, keeping paths with shared
// prefixes together, and gathers the scores in the caller's order.
//
// Multi-machine (later): NCCL's own bootstrap, ncclCommInitRank with a unique id shared by rank
// 0, rank and world size from the environment as torchrun sets them; see docs/architecture.md.
#pragma once
#include <functional>
#include <memory>
#include <vector>

#include "parallel/nccl_loader.h"
#include "supernet/replica.h"

namespace gnas {

class DataParallel {
 public:
  // `primary` is replica 0 (already built on options.device); replicas 1..gpus-1 are built here
  // on the following devices. Throws with a clear message when NCCL cannot be loaded.
  DataParallel(Replica& primary, const SpaceDesc& space, const SupernetOptions& options);
  ~DataParallel();

  int size() const { return int(replicas_.size()); }
  Replica& replica(int r) { return *replicas_[size_t(r)]; }

  StepResult accumulate_gradients(const std::vector<int>& arch, const Batch& batch);
  void apply_update(float lr);
  std::vector<PathScore> evaluate(const std::vector<std::vector<int>>& archs, const Batch& batch, BnMode mode);
  void calibrate_bn(const std::vector<int>& arch, const std::vector<Batch>& batches);
  // Largest |difference| between replica 0's tensors (values and momentum) and any other's.
  double max_divergence();

 private:
  // Runs fn(r) for every replica, replica r on its own thread (0 on the caller's); rethrows the
  // first exception after all have finished.
  void each(const std::function<void(int)>& fn);
  // Averages the pending gradients and the given BN buffers over the replicas (one NCCL group).
  void all_reduce_pending(const std::vector<int>& buffer_ids);

  std::vector<Replica*> replicas_;
  std::vector<std::unique_ptr<Replica>> owned_;
  std::vector<nccl::Comm> comms_;
};

}  // namespace gnas
