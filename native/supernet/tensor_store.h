// Named tensors of the supernet (parameters and BN running statistics) in one 64-byte-aligned
// arena, with a gradient and a momentum buffer beside each parameter. Names and layouts are
// those of docs/parameters.md; checkpoints, the N-API tensor accessors and the ONNX exporter
// all address tensors by these names.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace gnas {

enum class TensorKind : int { Param = 0, Buffer = 1 };

struct TensorEntry {
  std::string name;
  std::vector<int> shape;
  int64_t offset = 0;  // in floats, into values / grads / velocity
  int64_t size = 0;
  TensorKind kind = TensorKind::Param;
  bool decay = true;       // weight decay applies (conv / fc weights), not to BN params or biases
  bool pending = false;    // holds a gradient not yet applied
};

// A float array aligned to 64 bytes (one AVX-512 vector, one cache line), growable, never
// zero-initialised on growth.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  AlignedBuffer(AlignedBuffer&& o) noexcept : p_(o.p_), cap_(o.cap_) { o.p_ = nullptr; o.cap_ = 0; }
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(cap_, o.cap_);
    return *this;
  }
  ~AlignedBuffer();
  float* ensure(int64_t n);  // capacity >= n; contents are lost on growth
  float* data() const { return p_; }
  int64_t capacity() const { return cap_; }

 private:
  float* p_ = nullptr;
  int64_t cap_ = 0;
};

class TensorStore {
 public:
  // Registration (before finalize()).
  int add(const std::string& name, std::vector<int> shape, TensorKind kind, bool decay);
  void finalize();  // allocates the arena, zero-filled

  const std::vector<TensorEntry>& entries() const { return entries_; }
  std::vector<TensorEntry>& entries() { return entries_; }
  int find(const std::string& name) const;  // -1 when absent
  const TensorEntry& entry(int id) const { return entries_[id]; }
  TensorEntry& entry(int id) { return entries_[id]; }

  float* value(int id) { return values_.data() + entries_[id].offset; }
  float* grad(int id) { return grads_.data() + entries_[id].offset; }
  float* velocity(int id) { return velocity_.data() + entries_[id].offset; }
  const float* value(int id) const { return values_.data() + entries_[id].offset; }

  int64_t total() const { return total_; }
  float* values() { return values_.data(); }
  float* velocities() { return velocity_.data(); }
  const float* values() const { return values_.data(); }
  const float* velocities() const { return velocity_.data(); }

 private:
  std::vector<TensorEntry> entries_;
  std::unordered_map<std::string, int> index_;
  int64_t total_ = 0;
  AlignedBuffer values_, grads_, velocity_;
};

}  // namespace gnas
