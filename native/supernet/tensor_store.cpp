#include "supernet/tensor_store.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>

namespace gnas {

void CallArena::release_all() {
  for (const Block& b : blocks_) be_.release(b.p);
  blocks_.clear();
  used_ = 0;
}

void CallArena::begin_call() {
  largest_ = std::max(largest_, call_);
  if (blocks_.size() > 1 || (blocks_.size() == 1 && blocks_[0].cap < largest_)) {
    be_.synchronize();  // nothing queued may still use the blocks
    release_all();
    blocks_.push_back({static_cast<float*>(be_.alloc(size_t(largest_) * sizeof(float))), largest_});
  }
  used_ = 0;
  call_ = 0;
  ++epoch_;
}

float* CallArena::take(int64_t floats) {
  float* p;
  if (!blocks_.empty() && used_ + floats <= blocks_[0].cap) {
    p = blocks_[0].p + used_;
    used_ += floats;
  } else {
    // more than the arena's block has left: a block of its own until the next call's begin_call
    // gathers the whole call into one block (later, smaller buffers still fill the first one)
    p = static_cast<float*>(be_.alloc(size_t(floats) * sizeof(float)));
    blocks_.push_back({p, floats});
    if (blocks_.size() == 1) used_ = floats;
  }
  call_ += floats;
  return p;
}

float* CallArena::regrow(float* old, int64_t old_floats, int64_t floats) {
  // whatever happens to the old space, the call's total counts the buffer once, at its new size
  // (with its size hint, the next call takes that at once)
  call_ -= old_floats;
  for (size_t i = 1; i < blocks_.size(); i++)
    if (blocks_[i].p == old) {  // a block of its own: given back
      be_.release(old);
      blocks_.erase(blocks_.begin() + std::ptrdiff_t(i));
      return take(floats);
    }
  if (!blocks_.empty() && old + old_floats == blocks_[0].p + used_ && (old - blocks_[0].p) + floats <= blocks_[0].cap) {
    used_ = (old - blocks_[0].p) + floats;  // the last buffer handed out: grown in place
    call_ += floats;
    return old;
  }
  return take(floats);  // the old space lies unused to the end of the call
}

void CallArena::reset() {
  release_all();
  largest_ = 0;
  call_ = 0;
  ++epoch_;  // every buffer sized before is stale
}

int64_t CallArena::capacity_bytes() const {
  int64_t floats = 0;
  for (const Block& b : blocks_) floats += b.cap;
  return floats * int64_t(sizeof(float));
}

BackendBuffer::~BackendBuffer() {
  if (p_ && !arena_) be_->release(p_);
}

void BackendBuffer::stale() {
  throw std::logic_error("internal error: a call buffer sized in an earlier call was read (its memory now belongs to other buffers)");
}

void BackendBuffer::reset() {
  if (p_ && !arena_) be_->release(p_);
  p_ = nullptr;
  cap_ = 0;
  hint_ = 0;
}

float* BackendBuffer::ensure(int64_t n) {
  if (n <= cap_ && p_ && (!arena_ || epoch_ == arena_->epoch())) return p_;
  float* const old = p_;
  const uint64_t old_epoch = epoch_;
  if (p_ && !arena_) be_->release(p_);
  p_ = nullptr;
  cap_ = 0;
  // Whole cache lines, so vector tails never read past the allocation.
  size_t bytes = (size_t(n > 0 ? n : 1) * sizeof(float) + 63) / 64 * 64;
  if (arena_) {
    // The largest size this buffer had in earlier calls is taken at once: a buffer sized for each
    // block in turn (the backward's scratch, the evaluation units) would otherwise take new space
    // every time it grows within a call, and the space it left would lie unused to the call's end.
    bytes = std::max(bytes, size_t(hint_) * sizeof(float));
    const bool grows = old && old_epoch == arena_->epoch();  // sized earlier in this call
    const int64_t old_floats = hint_;
    hint_ = int64_t(bytes / sizeof(float));
    p_ = grows ? arena_->regrow(old, old_floats, hint_) : arena_->take(hint_);
    epoch_ = arena_->epoch();
  } else {
    p_ = static_cast<float*>(be_->alloc(bytes));
  }
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
