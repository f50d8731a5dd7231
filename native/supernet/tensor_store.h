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

// Backend memory for the buffers of one call (a training step, a scoring, predict or calibration
// call): a buffer takes its space from the arena the first time it is sized in a call, and the
// next call hands the same memory out again from the start (begin_call). Nothing a call's buffers
// hold is read after the call returns (docs/architecture.md, "Memory"), so a training step's saved
// activations and a scoring call's activations share one block: a greedy run, which alternates the
// two, holds the larger of them instead of their sum. The first call of a new size spills into
// blocks of their own; the next call starts from one block of the largest call's size.
class CallArena {
 public:
  explicit CallArena(Backend& be) : be_(be) {}
  CallArena(const CallArena&) = delete;
  CallArena& operator=(const CallArena&) = delete;
  ~CallArena() { release_all(); }
  void begin_call();             // a new call: everything handed out earlier is dead
  float* take(int64_t floats);   // `floats` (whole cache lines) for the rest of this call
  // A buffer taken earlier in this call (`old`, `old_floats`) grown to `floats`: its own block is
  // given back, or, the last one handed out, it grows in place; its contents are not kept.
  float* regrow(float* old, int64_t old_floats, int64_t floats);
  void reset();                  // gives all memory back; the next calls size the arena anew
  uint64_t epoch() const { return epoch_; }  // which call the arena is in
  int64_t capacity_bytes() const;

 private:
  void release_all();
  struct Block {
    float* p;
    int64_t cap;  // floats
  };
  Backend& be_;
  std::vector<Block> blocks_;  // [0]: the block handed out from; any others: one buffer each
  int64_t used_ = 0;           // floats handed out of blocks_[0]
  int64_t call_ = 0;     // floats handed out in this call
  int64_t largest_ = 0;  // the most one call has taken since the last reset
  uint64_t epoch_ = 1;
};

// A growable float array in a backend's memory (host memory for the CPU backends, device memory
// for CUDA), released through the same backend, or (with an arena) space of a CallArena for the
// current call. Never zero-initialised; contents are lost on growth, and with an arena at the end
// of the call: reading an arena buffer that was not sized in the current call is a logic error
// (data() throws) rather than a read of another buffer's values. Other element types (labels,
// flags) borrow it through as<T>() / ensure_as<T>().
class BackendBuffer {
 public:
  explicit BackendBuffer(Backend& be, CallArena* arena = nullptr) : be_(&be), arena_(arena) {}
  BackendBuffer(const BackendBuffer&) = delete;
  BackendBuffer& operator=(const BackendBuffer&) = delete;
  BackendBuffer(BackendBuffer&& o) noexcept
      : be_(o.be_), arena_(o.arena_), p_(o.p_), cap_(o.cap_), epoch_(o.epoch_), hint_(o.hint_) {
    o.p_ = nullptr;
    o.cap_ = 0;
  }
  BackendBuffer& operator=(BackendBuffer&& o) noexcept {
    std::swap(be_, o.be_);
    std::swap(arena_, o.arena_);
    std::swap(p_, o.p_);
    std::swap(cap_, o.cap_);
    std::swap(epoch_, o.epoch_);
    std::swap(hint_, o.hint_);
    return *this;
  }
  ~BackendBuffer();
  float* ensure(int64_t n);  // capacity >= n floats
  void reset();              // gives the memory back (capacity 0); ensure() allocates again
  template <typename T>
  T* ensure_as(int64_t n) {
    return reinterpret_cast<T*>(ensure((n * int64_t(sizeof(T)) + 3) / 4));
  }
  float* data() const {
    if (arena_ && p_ && epoch_ != arena_->epoch()) stale();
    return p_;
  }
  template <typename T>
  T* as() const {
    return reinterpret_cast<T*>(data());
  }
  int64_t capacity() const { return cap_; }

 private:
  [[noreturn]] static void stale();
  Backend* be_;
  CallArena* arena_ = nullptr;
  float* p_ = nullptr;
  int64_t cap_ = 0;
  uint64_t epoch_ = 0;  // the arena call that sized it
  int64_t hint_ = 0;    // with an arena: the most floats it took in a call since the last reset()
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
