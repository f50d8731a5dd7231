#include "supernet/tensor_store.h"

#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>

namespace gnas {

AlignedBuffer::~AlignedBuffer() { std::free(p_); }

float* AlignedBuffer::ensure(int64_t n) {
  if (n <= cap_) return p_;
  std::free(p_);
  p_ = nullptr;
  cap_ = 0;
  // Round up to whole cache lines so vector tails never read past the allocation.
  size_t bytes = (size_t(n) * sizeof(float) + 63) / 64 * 64;
  p_ = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (!p_) throw std::bad_alloc();
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
  for (AlignedBuffer* b : {&values_, &grads_, &velocity_}) {
    float* p = b->ensure(n);
    std::memset(p, 0, size_t(b->capacity()) * sizeof(float));
  }
}

int TensorStore::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? -1 : it->second;
}

}  // namespace gnas
