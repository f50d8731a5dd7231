// A kernel launch: configuration and argument checks, the blocks run one after another with
// poisoned shared memory, stream checks, the fault handler and the summary printed at exit.
#pragma once
#include <execinfo.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "emu_threads.h"

namespace emu {
// ---------------- shared memory poisoning ----------------
inline std::unordered_map<const void*, long> g_shared_seen;
inline void shared_init(void* p, size_t n) {
  if (!g_in_kernel) return;
  long& s = g_shared_seen[p];
  if (s != g_block_serial) {
    s = g_block_serial;
    memset(p, 0xff, n);
  }
}
inline void launch_bounds_check(long maxt) {
  const long nt = long(g_bdim.x) * g_bdim.y * g_bdim.z;
  if (nt > maxt) fatal("block of %ld threads exceeds __launch_bounds__(%ld): the launch fails on a GPU", nt, maxt);
}

// ---------------- streams, errors ----------------
inline std::set<const void*> g_streams;
inline int g_nonblocking_streams = 0;
inline std::set<std::string> g_warned_default_stream;
inline bool check_stream(cudaStream_t s, const char* what) {
  if (s == nullptr) {
    if (g_nonblocking_streams > 0 && g_warned_default_stream.insert(what).second)
      report(true, "%s on the legacy default stream (0) while a non-blocking stream exists: no ordering with the "
                   "backend's stream on a GPU", what);
    return true;
  }
  if (!g_streams.count(s)) {
    report(true, "%s on an unknown or destroyed stream %p", what, (void*)s);
    return false;
  }
  return true;
}
inline cudaError_t set_error(cudaError_t e) {
  if (e != cudaSuccess) t_last = e;
  return e;
}

// ---------------- kernel launch ----------------
inline std::map<const void*, int> g_attr;  // MaxDynamicSharedMemorySize opt-ins
struct KStat {
  long launches = 0, blocks = 0, threads = 0;
  double secs = 0;
};
inline std::map<std::string, KStat> g_stats;
inline long g_launches = 0;
inline std::vector<unsigned char> g_smem_buf;

inline void fault_handler(int sig, siginfo_t* si, void*) {
  char b[512];
  const int n = snprintf(b, sizeof b,
                         "\nEMU FAULT: signal %d at address %p %s\n  kernel %s (%s:%d) block (%u,%u,%u) thread "
                         "(%u,%u,%u) blockDim (%u,%u,%u) gridDim (%u,%u,%u)\n",
                         sig, si->si_addr, g_in_kernel ? "in a kernel" : "outside kernels",
                         g_where.kernel ? g_where.kernel : "-", g_where.file ? g_where.file : "-", g_where.line,
                         g_bid.x, g_bid.y, g_bid.z, g_tid.x, g_tid.y, g_tid.z, g_bdim.x, g_bdim.y, g_bdim.z,
                         g_gdim.x, g_gdim.y, g_gdim.z);
  (void)!write(2, b, size_t(n));
  // which allocation (not async-signal-safe, but we abort anyway)
  std::string d = describe_ptr(si->si_addr);
  (void)!write(2, "  ", 2);
  (void)!write(2, d.data(), d.size());
  (void)!write(2, "\n", 1);
  void* bt[64];
  const int k = backtrace(bt, 64);
  backtrace_symbols_fd(bt, k, 2);
  signal(sig, SIG_DFL);
  abort();
}
inline void summary() {
  fprintf(stderr, "EMU SUMMARY: %ld launches, %ld errors, %ld warnings\n", g_launches, g_errors.load(),
          g_warnings.load());
  if (env_int("EMU_STATS", 0)) {
    for (auto& kv : g_stats)
      fprintf(stderr, "EMU STAT %-60s launches %6ld blocks %9ld threads %11ld  %.2fs\n", kv.first.c_str(),
              kv.second.launches, kv.second.blocks, kv.second.threads, kv.second.secs);
  }
}
struct Init {
  Init() {
    static char altstack[1 << 16];
    stack_t ss{};
    ss.ss_sp = altstack;
    ss.ss_size = sizeof altstack;
    sigaltstack(&ss, nullptr);
    struct sigaction sa {};
    sa.sa_sigaction = fault_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    if (!env_int("EMU_NO_SEGV_HANDLER", 0)) {
      sigaction(SIGSEGV, &sa, nullptr);
      sigaction(SIGBUS, &sa, nullptr);
    }
    atexit(summary);
  }
};
inline Init g_init;

template <class T>
inline void check_arg(const T& v, int idx, const char* name) {
  if constexpr (std::is_pointer<T>::value) {
    if (v != nullptr && !find_alloc(reinterpret_cast<const void*>(v), 0))
      report(true, "kernel %s argument %d is not a live device pointer (%s)", name, idx,
             describe_ptr(reinterpret_cast<const void*>(v)).c_str());
  }
}

template <class... P, class... A>
void launch_named(const char* name, const char* file, int line, void (*kernel)(P...), dim3 grid, dim3 block,
                  size_t smem, cudaStream_t stream, A&&... args) {
  std::lock_guard<std::recursive_mutex> lock(g_mu);
  ++g_launches;
  Where saved = g_where;
  g_where = Where{name, file, line};
  struct Restore {
    Where w;
    ~Restore() { g_where = w; }
  } restore{saved};
  if (g_in_kernel) fatal("kernel launch from inside a kernel");
  const long nt = long(block.x) * block.y * block.z;
  if (block.x < 1 || block.y < 1 || block.z < 1 || block.x > 1024 || block.y > 1024 || block.z > 64 || nt > 1024) {
    report(true, "bad block (%u, %u, %u)", block.x, block.y, block.z);
    set_error(cudaErrorInvalidConfiguration);
    return;
  }
  if (grid.x < 1 || grid.y < 1 || grid.z < 1 || grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535) {
    report(true, "bad grid (%u, %u, %u)", grid.x, grid.y, grid.z);
    set_error(cudaErrorInvalidConfiguration);
    return;
  }
  if (smem > 48 * 1024) {
    auto it = g_attr.find(reinterpret_cast<const void*>(kernel));
    if (it == g_attr.end() || size_t(it->second) < smem) {
      report(true, "dynamic smem %zu > 48 KiB without cudaFuncSetAttribute opt-in", smem);
      set_error(cudaErrorInvalidValue);
      return;
    }
  }
  if (smem > 227 * 1024) {
    report(true, "dynamic smem %zu > 227 KiB", smem);
    set_error(cudaErrorInvalidValue);
    return;
  }
  if (!check_stream(stream, name)) {
    set_error(cudaErrorInvalidResourceHandle);
    return;
  }
  std::tuple<typename std::decay<P>::type...> targs(std::forward<A>(args)...);  // converted like a real launch
  {
    int idx = 0;
    std::apply([&](const auto&... v) { (check_arg(v, idx++, name), ...); }, targs);
  }
  const auto t0 = std::chrono::steady_clock::now();
  g_bdim = block;
  g_gdim = grid;
  if (g_smem_buf.size() < smem + 128) g_smem_buf.resize(smem + 128);
  unsigned char* buf = g_smem_buf.data();
  buf += (128 - (reinterpret_cast<uintptr_t>(buf) & 127)) & 127;
  g_smem_bytes = smem;
  g_s.body = [&] { std::apply(kernel, targs); };
  g_in_kernel = true;
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) {
        g_bid = uint3{x, y, z};
        ++g_block_serial;
        if (smem) memset(buf, 0xff, smem);  // NaN garbage
        g_smem = smem ? buf : nullptr;
        run_block(int(nt));
      }
  g_in_kernel = false;
  g_smem = nullptr;
  KStat& st = g_stats[name];
  st.launches++;
  st.blocks += long(grid.x) * grid.y * grid.z;
  st.threads += long(grid.x) * grid.y * grid.z * nt;
  st.secs += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace emu
