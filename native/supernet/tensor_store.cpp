#include "supernet/tensor_store.h"

#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>

namespace gnas {

BackendBuffer::~BackendBuffer() {
  if (p_) be_->release(p_);
}

void BackendBuffer::reset() {
  if (p_) be_->release(p_);
  p_ = nullptr;
  cap_ = 0;
}

float* BackendBuffer::ensure(int64_t n) {
  if (n <= cap_ && p_) return p_;
  if (p_) be_->release(p_);
  p_ = nullptr;
  cap_ = 0;
  // Whole cache lines, so vector tails never read past the allocation.
  const size_t bytes = (size_t(n > 0 ? n : 1) * sizeof(float) + 63) / 64 * 64;
  p_ = static_cast<float*>(be_->alloc(bytes));
  cap_ = int64_t(bytes / sizeof(float));
  return p_;
}

int TensorStore::add(const std::string& name, std::vector<int> shape, TensorKind kind, bool decay) {
  if (index_.count(name)) throw std::logic_error("duplicate tensor name " + name);
  TensorEntry e;
  e.name = name;
  e.size = 1;
  for (int d : shape) e.size *= d;
  e.shape = std::move(shape);
  // Each tensor starts on a cache line: kernels may assume aligned weight rows.
  e.offset = (total_ + 15) / 16 * 16;
  e.kind = kind;
  e.decay = decay;
  total_ = e.offset + e.size;
  index_[name] = int(entries_.size());
  entries_.push_back(std::move(e));
  return int(entries_.size()) - 1;
}

void TensorStore::finalize() {
  int64_t n = total_ > 0 ? total_ : 1;
  for (BackendBuffer* b : {&values_, &grads_, &velocity_}) {
    float* p = b->ensure(n);
    be_.fill(p, 0.0f, b->capacity());
  }
}

void TensorStore::read(int id, float* host) const {
  const TensorEntry& e = entries_[size_t(id)];
  be_.download(host, values_.data() + e.offset, size_t(e.size) * sizeof(float));
}

void TensorStore::write(int id, const float* host) {
  const TensorEntry& e = entries_[size_t(id)];
  be_.upload(values_.data() + e.offset, host, size_t(e.size) * sizeof(float));
}

std::vector<float> TensorStore::read_all_values() const {
  std::vector<float> v(static_cast<size_t>(total_));
  be_.download(v.data(), values_.data(), size_t(total_) * sizeof(float));
  return v;
}

std::vector<float> TensorStore::read_all_velocities() const {
  std::vector<float> v(static_cast<size_t>(total_));
  be_.download(v.data(), velocity_.data(), size_t(total_) * sizeof(float));
  return v;
}

void TensorStore::write_all(const float* values, const float* velocities) {
  be_.upload(values_.data(), values, size_t(total_) * sizeof(float));
  be_.upload(velocity_.data(), velocities, size_t(total_) * sizeof(float));
}

int TensorStore::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? -1 : it->second;
}

}  // namespace gnas
