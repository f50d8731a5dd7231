// host_alloc / host_free (core/host_memory.h): alignment, and that a released large block gives
// its pages back to the system, read from the process' resident set (/proc/self/statm).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/host_memory.h"
#include "harness.h"

namespace gnas {
namespace test {
namespace {

double resident_mb() {
  long pages = 0, resident = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return -1;
  const int got = std::fscanf(f, "%ld %ld", &pages, &resident);
  std::fclose(f);
  return got == 2 ? double(resident) * double(sysconf(_SC_PAGESIZE)) / 1048576.0 : -1;
}

}  // namespace

void run_host_memory_checks(Harness& h) {
  const std::string title = "host_alloc / host_free";
  if (!h.selected(title)) return;
  // alignment and usability of small and large blocks
  double misaligned = 0;
  for (size_t bytes : {size_t(1), size_t(100), size_t(4096), size_t(3) << 20}) {
    void* p = host_alloc(bytes);
    misaligned += double(reinterpret_cast<uintptr_t>(p) % 64);
    std::memset(p, 0x5a, bytes);
    host_free(p);
  }
  h.check(title, "alignment", misaligned, 0);
  // The C heap's mmap threshold rises to the size of a freed mapped block (glibc, up to 32 MB);
  // after that, 8 MB blocks would come from the heap and stay resident once freed in its middle.
  {
    void* volatile big = std::malloc(size_t(30) << 20);  // volatile: the pair must not be elided
    std::memset(big, 0, 4096);
    std::free(big);
  }
  const int blocks = 8;
  const size_t each = size_t(8) << 20;
  std::vector<void*> ps, pins;
  for (int i = 0; i < blocks; ++i) {
    ps.push_back(host_alloc(each));
    std::memset(ps.back(), 1, each);
    pins.push_back(std::malloc(4096));  // live heap blocks between them, as in a real process
  }
  const double before = resident_mb();
  for (void* p : ps) host_free(p);
  const double after = resident_mb();
  for (void* p : pins) std::free(p);
  const double freed_mb = double(blocks * each) / 1048576.0;
  // error: the share of the released 64 MB that stayed resident
  const double kept = before < 0 || after < 0 ? 1.0 : (after - (before - freed_mb)) / freed_mb;
  h.check(title, "rss returned", kept < 0 ? 0 : kept, 0.02);
}

}  // namespace test
}  // namespace gnas
