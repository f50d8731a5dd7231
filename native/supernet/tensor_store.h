// Named tensors of the supernet (parameters and BN running statistics) in one arena in the
// backend's memory, with a gradient and a momentum buffer beside each parameter. Names and layouts are
// those of docs/parameters.md; checkpoints, the N-API tensor accessors and the ONNX exporter
// all address tensors by these names.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/backend.h"

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

// A growable float array in a backend's memory (host memory for the CPU backends, device memory
// for CUDA), released through the same backend. Never zero-initialised; contents are lost on
// growth. Other element types (labels, flags) borrow it through as<T>() / ensure_as<T>().
class BackendBuffer {
 public:
  explicit BackendBuffer(Backend& be) : be_(&be) {}
  BackendBuffer(const BackendBuffer&) = delete;
  BackendBuffer& operator=(const BackendBuffer&) = delete;
  BackendBuffer(BackendBuffer&& o) noexcept : be_(o.be_), p_(o.p_), cap_(o.cap_) {
    o.p_ = nullptr;
    o.cap_ = 0;
  }
  BackendBuffer& operator=(BackendBuffer&& o) noexcept {
    std::swap(be_, o.be_);
    std::swap(p_, o.p_);
    std::swap(cap_, o.cap_);
    return *this;
  }
  ~BackendBuffer();
  float* ensure(int64_t n);  // capacity >= n floats
  void reset();              // gives the memory back (capacity 0); ensure() allocates again
  template <typename T>
  T* ensure_as(int64_t n) {
    return reinterpret_cast<T*>(ensure((n * int64_t(sizeof(T)) + 3) / 4));
  }
  float* data() const { return p_; }
  template <typename T>
  T* as() const {
    return reinterpret_cast<T*>(p_);
  }
  int64_t capacity() const { return cap_; }

 private:
  Backend* be_;
  float* p_ = nullptr;
  int64_t cap_ = 0;
};

class TensorStore {
 public:
  explicit TensorStore(Backend& be) : be_(be), values_(be), grads_(be), velocity_(be) {}
  // Registration (before finalize()).
  int add(const std::string& name, std::vector<int> shape, TensorKind kind, bool decay);
  void finalize();  // allocates the arena, zero-filled

  const std::vector<TensorEntry>& entries() const { return entries_; }
  std::vector<TensorEntry>& entries() { return entries_; }
  int find(const std::string& name) const;  // -1 when absent
  const TensorEntry& entry(int id) const { return entries_[id]; }
  TensorEntry& entry(int id) { return entries_[id]; }

  // Backend memory (device memory for CUDA): for ops only. The host reads and writes through
  // read()/write() and the *_all() copies.
  float* value(int id) { return values_.data() + entries_[id].offset; }
  float* grad(int id) { return grads_.data() + entries_[id].offset; }
  float* velocity(int id) { return velocity_.data() + entries_[id].offset; }
  const float* value(int id) const { return values_.data() + entries_[id].offset; }

  int64_t total() const { return total_; }
  // Host copies (they wait for queued device work).
  void read(int id, float* host) const;
  void write(int id, const float* host);
  std::vector<float> read_all_values() const;      // the whole arena, total() floats
  std::vector<float> read_all_velocities() const;
  void write_all(const float* values, const float* velocities);  // total() floats each

 private:
  Backend& be_;
  std::vector<TensorEntry> entries_;
  std::unordered_map<std::string, int> index_;
  int64_t total_ = 0;
  BackendBuffer values_, grads_, velocity_;
};

}  // namespace gnas
