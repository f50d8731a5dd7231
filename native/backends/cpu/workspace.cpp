// See workspace.h.
#include "backends/cpu/workspace.h"

#include "core/host_memory.h"

#include <cstdlib>
#include <cstring>
#include <new>

namespace gnas {
namespace cpu {

Workspace::Workspace() : bufs_(new Buf[kSharedSlots + kMaxThreads * kPerThreadSlots]) {}

Workspace::~Workspace() {
  for (int i = 0; i < kSharedSlots + kMaxThreads * kPerThreadSlots; ++i) host_free(bufs_[i].p);
  delete[] bufs_;
}

void Workspace::release_all() {
  for (int i = 0; i < kSharedSlots + kMaxThreads * kPerThreadSlots; ++i) {
    host_free(bufs_[i].p);
    bufs_[i] = Buf{};
  }
}

size_t Workspace::bytes() const {
  size_t floats = 0;
  for (int i = 0; i < kSharedSlots + kMaxThreads * kPerThreadSlots; ++i) floats += bufs_[i].n;
  return floats * sizeof(float);
}

float* Workspace::shared(int slot, size_t n) { return get(slot, n); }
float* Workspace::thread(int tid, int slot, size_t n) { return get(kSharedSlots + tid * kPerThreadSlots + slot, n); }

float* Workspace::get(int index, size_t n) {
  Buf& b = bufs_[index];
  if (b.n < n) {
    host_free(b.p);
    b = Buf{};  // empty, not dangling, should the allocation below throw
    // grow by half again so that slowly growing requests do not reallocate every call; the extra
    // 16 floats let vector loops over-read the end of a row without leaving the allocation
    const size_t want = n + n / 2 + 16;
    const size_t bytes = (want * sizeof(float) + 63) / 64 * 64;
    b.p = static_cast<float*>(host_alloc(bytes));
    b.n = want;
    std::memset(b.p, 0, bytes);
  }
  return b.p;
}

}  // namespace cpu
}  // namespace gnas
