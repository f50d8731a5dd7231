// Host memory for tensors: 64-byte aligned blocks that go back to the operating system when they
// are released. Large blocks (>= kHostMapBytes) are mapped pages of their own (mmap / munmap);
// small ones come from the C heap. Through the heap alone, buffers of a few MB that grow (the
// evaluation buffers of a supernet scored on 250, then 500, then 1,000 images) are freed into a
// heap that cannot shrink past its live blocks, and the process keeps their pages: +215 MB of
// resident memory for that sequence on the W1 bench space, measured with VmRSS.
#pragma once
#include <cstddef>

namespace gnas {

constexpr size_t kHostMapBytes = size_t(1) << 20;

// A block of at least `bytes` (rounded up to whole cache lines), 64-byte aligned; throws
// std::bad_alloc when the system has no memory for it.
void* host_alloc(size_t bytes);
// Gives back a block of host_alloc (null: nothing).
void host_free(void* p);

}  // namespace gnas
