// Scratch memory of the CPU backend: packed GEMM operands, per-thread im2col rows and padded
// images, per-thread or per-chunk partial weight gradients and statistics. Buffers are 64-byte
// aligned, grow on demand and are kept between calls, so a training step allocates nothing once it
// has run once. Each slot is used by one thread at a time (shared slots by the calling thread
// before a parallel loop; per-thread slots, inside one, by their own thread, or at a chunk's index
// by the thread running that chunk, a slot number a loop uses for one of the two only), so get()
// needs no lock.
#pragma once
#include <cstddef>

namespace gnas {
namespace cpu {

class Workspace {
 public:
  static constexpr int kSharedSlots = 10;
  // 4 and 5: depthwise padded planes only; 8: the bfloat16 depthwise pair planes only
  static constexpr int kPerThreadSlots = 9;
  static constexpr int kMaxThreads = 256;

  Workspace();
  ~Workspace();
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;

  // At least n floats, 64-byte aligned. The contents are whatever the slot's last user left, or
  // zeros after the buffer (re)grows: the depthwise kernels rely on that to recognise a fresh
  // buffer (see depthwise.h, padded planes).
  // (Out of line on purpose: the ISA-specific kernel files call these, and an inline copy compiled
  // with AVX-512 flags could be the one the linker keeps for everybody.)
  float* shared(int slot, size_t n);
  float* thread(int tid, int slot, size_t n);
  // Frees every buffer; the next get() of a slot allocates a fresh, zeroed one.
  void release_all();
  size_t bytes() const;  // held by every slot

 private:
  float* get(int index, size_t n);
  struct Buf {
    float* p = nullptr;
    size_t n = 0;
  };
  Buf* bufs_;
};

}  // namespace cpu
}  // namespace gnas
