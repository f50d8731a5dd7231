#include "parallel/data_parallel.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <numeric>
#include <stdexcept>
#include <thread>

namespace gnas {

DataParallel::DataParallel(Replica& primary, const SpaceDesc& space, const SupernetOptions& options) {
  if (options.backend != "cuda")
    throw std::invalid_argument("gpus = " + std::to_string(options.gpus) + " needs the cuda backend, not '" +
                                options.backend + "'");
  const std::string why = nccl::unavailable_reason();
  if (!why.empty())
    throw std::invalid_argument("gpus = " + std::to_string(options.gpus) + " cannot run: " + why);
  const nccl::Api& nc = nccl::api();
  replicas_.push_back(&primary);
  for (int r = 1; r < options.gpus; r++) {
    SupernetOptions o = options;
    o.gpus = 1;
    o.device = options.device + r;
    owned_.push_back(std::make_unique<Replica>(space, o));
    replicas_.push_back(owned_.back().get());
  }
  std::vector<int> devices;
  for (Replica* s : replicas_) devices.push_back(s->backend().device());
  comms_.assign(replicas_.size(), nullptr);
  nccl::check(nc.CommInitAll(comms_.data(), int(comms_.size()), devices.data()), "ncclCommInitAll");
}

DataParallel::~DataParallel() {
  try {
    for (Replica* s : replicas_) s->backend().synchronize();
  } catch (...) {
  }
  if (!comms_.empty() && nccl::unavailable_reason().empty()) {
    const nccl::Api& nc = nccl::api();
    for (nccl::Comm c : comms_)
      if (c) nc.CommDestroy(c);
  }
}

void DataParallel::each(const std::function<void(int)>& fn) {
  const int R = size();
  std::vector<std::exception_ptr> errors(static_cast<size_t>(R));
  std::vector<std::thread> threads;
  for (int r = 1; r < R; r++) {
    threads.emplace_back([&, r] {
      try {
        fn(r);
      } catch (...) {
        errors[size_t(r)] = std::current_exception();
      }
    });
  }
  try {
    fn(0);
  } catch (...) {
    errors[0] = std::current_exception();
  }
  for (std::thread& t : threads) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

void DataParallel::all_reduce_pending(const std::vector<int>& buffer_ids) {
  const nccl::Api& nc = nccl::api();
  // Every replica trained the same path, so the same tensors are pending on all of them.
  std::vector<int> grads;
  const auto& entries = replicas_[0]->store().entries();
  for (int id = 0; id < int(entries.size()); id++)
    if (entries[size_t(id)].pending) grads.push_back(id);
  nccl::check(nc.GroupStart(), "ncclGroupStart");
  for (int r = 0; r < size(); r++) {
    Replica& s = *replicas_[size_t(r)];
    void* stream = s.backend().native_stream();
    for (int id : grads) {
      float* g = s.store().grad(id);
      nccl::check(nc.AllReduce(g, g, size_t(s.store().entry(id).size), nccl::Float32, nccl::Avg, comms_[size_t(r)], stream),
                  "ncclAllReduce (gradients)");
    }
    for (int id : buffer_ids) {
      float* v = s.store().value(id);
      nccl::check(nc.AllReduce(v, v, size_t(s.store().entry(id).size), nccl::Float32, nccl::Avg, comms_[size_t(r)], stream),
                  "ncclAllReduce (BN running statistics)");
    }
  }
  nccl::check(nc.GroupEnd(), "ncclGroupEnd");
}

StepResult DataParallel::accumulate_gradients(const std::vector<int>& arch, const Batch& batch) {
  const int R = size();
  if (batch.n % R != 0)
    throw std::invalid_argument("a batch of " + std::to_string(batch.n) + " images does not split evenly over " +
                                std::to_string(R) + " GPUs: use a batch size divisible by the number of GPUs");
  const int per = batch.n / R;
  const SpaceDesc& sp = replicas_[0]->space();
  const int64_t pixels = int64_t(sp.height) * sp.width * sp.channels;
  std::vector<StepResult> parts(static_cast<size_t>(R));
  each([&](int r) {
    Batch b;
    b.n = per;
    if (batch.u8) b.u8 = batch.u8 + int64_t(r) * per * pixels;
    if (batch.f32) b.f32 = batch.f32 + int64_t(r) * per * pixels;
    if (batch.labels) b.labels = batch.labels + int64_t(r) * per;
    parts[size_t(r)] = replicas_[size_t(r)]->accumulate_gradients(arch, b);
  });
  all_reduce_pending(replicas_[0]->path_buffer_ids(arch));
  StepResult out;
  for (const StepResult& p : parts) {
    out.loss += p.loss / R;  // equal shards: the mean of the shard means
    out.correct += p.correct;
  }
  return out;
}

void DataParallel::apply_update(float lr) {
  each([&](int r) { replicas_[size_t(r)]->apply_update(lr); });
}

std::vector<PathScore> DataParallel::evaluate(const std::vector<std::vector<int>>& archs, const Batch& batch,
                                              BnMode mode) {
  // Sorted order keeps paths with shared prefixes on the same replica; contiguous, near-equal
  // chunks of that order go to the replicas.
  std::vector<int> order(archs.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return archs[size_t(a)] < archs[size_t(b)]; });
  const int R = std::min<int>(size(), int(archs.size()));
  std::vector<PathScore> scores(archs.size());
  each([&](int r) {
    if (r >= R) return;
    const size_t lo = archs.size() * size_t(r) / size_t(R), hi = archs.size() * size_t(r + 1) / size_t(R);
    std::vector<std::vector<int>> mine;
    for (size_t i = lo; i < hi; i++) mine.push_back(archs[size_t(order[i])]);
    std::vector<PathScore> got = replicas_[size_t(r)]->evaluate(mine, batch, mode);
    for (size_t i = lo; i < hi; i++) scores[size_t(order[i])] = got[i - lo];
  });
  return scores;
}

void DataParallel::calibrate_bn(const std::vector<int>& arch, const std::vector<Batch>& batches) {
  // Same weights, same batches, deterministic kernels: every replica computes the same statistics.
  each([&](int r) { replicas_[size_t(r)]->calibrate_bn(arch, batches); });
}

double DataParallel::max_divergence() {
  const std::vector<float> v0 = replicas_[0]->store().read_all_values();
  const std::vector<float> m0 = replicas_[0]->store().read_all_velocities();
  double worst = 0;
  for (int r = 1; r < size(); r++) {
    const std::vector<float> v = replicas_[size_t(r)]->store().read_all_values();
    const std::vector<float> m = replicas_[size_t(r)]->store().read_all_velocities();
    for (size_t i = 0; i < v0.size(); i++) {
      worst = std::max(worst, double(std::fabs(v[i] - v0[i])));
      worst = std::max(worst, double(std::fabs(m[i] - m0[i])));
      if (std::isnan(v[i]) != std::isnan(v0[i])) worst = INFINITY;
    }
  }
  return worst;
}

}  // namespace gnas
