// The emulator's global state (what is running, for fault messages), its error reporting, and
// device memory bookkeeping (allocations by base address).
#pragma once
#include <atomic>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>

#include "emu_types.h"

// ---------------- emulator state ----------------
namespace emu {
inline int env_int(const char* n, int d) {
  const char* v = getenv(n);
  return v && *v ? atoi(v) : d;
}
inline int sm_count() { static int s = env_int("EMU_SMS", 132); return s; }

inline std::atomic<long> g_errors{0}, g_warnings{0};
inline thread_local cudaError_t t_last = cudaSuccess;
inline std::recursive_mutex g_mu;  // one launch / API call at a time (the state below is global)

// what is running (for fault messages)
struct Where {
  const char* kernel = nullptr;  // the kernel's name (kernel_name in emu_launch.h)
};
inline Where g_where;
inline uint3 g_tid, g_bid;
inline dim3 g_bdim, g_gdim;
inline unsigned char* g_smem = nullptr;
inline size_t g_smem_bytes = 0;
inline bool g_in_kernel = false;

inline void report(bool error, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
inline void report(bool error, const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  (error ? g_errors : g_warnings)++;
  if (g_where.kernel)
    fprintf(stderr, "EMU %s: %s [kernel %s]\n", error ? "ERROR" : "WARNING", buf, g_where.kernel);
  else
    fprintf(stderr, "EMU %s: %s\n", error ? "ERROR" : "WARNING", buf);
  fflush(stderr);
}
[[noreturn]] inline void fatal(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
[[noreturn]] inline void fatal(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  fprintf(stderr, "EMU FATAL: %s [kernel %s, block (%u,%u,%u) thread (%u,%u,%u) of (%u,%u,%u)]\n", buf,
          g_where.kernel ? g_where.kernel : "-", g_bid.x, g_bid.y, g_bid.z, g_tid.x, g_tid.y, g_tid.z, g_bdim.x,
          g_bdim.y, g_bdim.z);
  fflush(stderr);
  abort();
}

// ---------------- device memory ----------------
struct Alloc {
  char* map;
  size_t maplen;
  size_t size;
  bool freed;
};
inline std::map<uintptr_t, Alloc> g_allocs;  // by user base
inline size_t g_live_bytes = 0, g_quarantine_bytes = 0;
inline size_t g_mem_limit = size_t(env_int("EMU_MEM_LIMIT_MB", 8192)) << 20;  // simulated device memory

// The allocation containing [p, p + n) (n may be 0: p may be one past the end). nullptr if none.
inline const Alloc* find_alloc(const void* p, size_t n, uintptr_t* base_out = nullptr) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  auto it = g_allocs.upper_bound(a);
  if (it == g_allocs.begin()) return nullptr;
  --it;
  if (a < it->first || a + n > it->first + it->second.size) return nullptr;
  if (base_out) *base_out = it->first;
  return &it->second;
}
inline std::string describe_ptr(const void* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  auto it = g_allocs.upper_bound(a);
  char b[256];
  if (it != g_allocs.begin()) {
    --it;
    const long off = long(a - it->first);
    if (size_t(off) < it->second.size + 8192) {
      snprintf(b, sizeof b, "%p: offset %ld of %s block %#lx (%zu bytes)%s", p, off,
               it->second.freed ? "FREED" : "live", (unsigned long)it->first, it->second.size,
               size_t(off) >= it->second.size ? " = PAST ITS END" : "");
      return b;
    }
  }
  snprintf(b, sizeof b, "%p: not device memory", p);
  return b;
}
}  // namespace emu
