// Host emulation of the CUDA runtime + device model, for running the greedynas CUDA backend on a
// CPU (no GPU). Blocks run one after another; the threads of a block are fibers (own x86-64 context switch), switched
// at __syncthreads, warp shuffles and __syncwarp. Device memory is mmap'd with guard pages.
//
// What it checks (prints "EMU ERROR ..." / "EMU WARNING ..." on stderr and counts them):
//   launch configuration: block dims (x,y <= 1024, z <= 64, x*y*z <= 1024), grid dims (x <= 2^31-1,
//     y,z <= 65535, none 0), dynamic smem > 48 KiB without cudaFuncSetAttribute opt-in, > 227 KiB,
//     __launch_bounds__ exceeded (injected by prep.py), stream handle validity, use of the legacy
//     default stream (0) while a non-blocking stream exists (no ordering with it on a GPU)
//     -> the launch fails with cudaErrorInvalidConfiguration etc. (cudaGetLastError), like a GPU
//   pointer kernel arguments that are not inside a live device allocation (host or freed memory)
//   warp shuffles / __syncwarp: full mask only, full warps only (blockDim multiple of 32 at the
//     warp), all 32 lanes must arrive (an exited lane -> deadlock -> abort with a message)
//   __syncthreads reached by only part of the block (others exited): warning (UB), continues
//   device memory: poisoned with 0xFF (NaN) at cudaMalloc, guard pages after (and before) each
//     block (out-of-bounds -> SIGSEGV with the kernel, block and thread printed), freed blocks
//     stay PROT_NONE (use after free -> SIGSEGV); memcpy/memset ranges and directions checked
//   shared memory: dynamic and static (__shared__ -> static + prep.py's shared_init) poisoned with
//     0xFF at the start of every block
// Environment: EMU_SMS (multiProcessorCount, default 132), EMU_ORDER=reverse (run the threads of a
//   block in reverse order between barriers, to expose races), EMU_STATS=1 (per-kernel counts).
#pragma once
#include <execinfo.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define EMU_ASAN 1
#include <sanitizer/common_interface_defs.h>
#endif

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) alignas(n)
#define __CUDA_ARCH_EMU__ 1
#ifndef __CUDACC__
#define __CUDACC__ 1  // as nvcc defines it for the host pass of a .cu file (kernels.h device helpers)
#endif

// ---------------- types ----------------
enum cudaError {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorIllegalAddress = 700,
  cudaErrorLaunchOutOfResources = 701,
  cudaErrorNoDevice = 100,
};
typedef enum cudaError cudaError_t;
struct CUstream_st;
typedef CUstream_st* cudaStream_t;
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };
enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4
};
enum cudaDeviceAttr {
  cudaDevAttrMaxThreadsPerBlock = 1,
  cudaDevAttrMaxSharedMemoryPerBlock = 8,
  cudaDevAttrMultiProcessorCount = 16,
  cudaDevAttrComputeCapabilityMajor = 75,
  cudaDevAttrComputeCapabilityMinor = 76,
  cudaDevAttrMaxSharedMemoryPerBlockOptin = 97,
};
#define cudaStreamDefault 0x00
#define cudaStreamNonBlocking 0x01

struct uint3 { unsigned x, y, z; };
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) float2 { float x, y; };
struct alignas(16) double2 { double x, y; };
struct alignas(16) int4 { int x, y, z, w; };
inline float4 make_float4(float a, float b, float c, float d) { return float4{a, b, c, d}; }
inline float2 make_float2(float a, float b) { return float2{a, b}; }
inline double2 make_double2(double a, double b) { return double2{a, b}; }

struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  size_t sharedMemPerBlock;
  size_t sharedMemPerBlockOptin;
  size_t sharedMemPerMultiprocessor;
  int regsPerBlock;
  int warpSize;
  int maxThreadsPerBlock;
  int maxThreadsDim[3];
  int maxGridSize[3];
  int major, minor;
  int multiProcessorCount;
  int l2CacheSize;
};

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
  const char* kernel = nullptr;
  const char* file = nullptr;
  int line = 0;
};
inline Where g_where;
inline uint3 g_tid, g_bid;
inline dim3 g_bdim, g_gdim;
inline unsigned char* g_smem = nullptr;
inline size_t g_smem_bytes = 0;
inline long g_block_serial = 0;  // increments per block (shared memory poisoning)
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
    fprintf(stderr, "EMU %s: %s [kernel %s at %s:%d]\n", error ? "ERROR" : "WARNING", buf, g_where.kernel,
            g_where.file, g_where.line);
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
  fprintf(stderr, "EMU FATAL: %s [kernel %s at %s:%d, block (%u,%u,%u) thread (%u,%u,%u) of (%u,%u,%u)]\n", buf,
          g_where.kernel ? g_where.kernel : "-", g_where.file ? g_where.file : "-", g_where.line, g_bid.x, g_bid.y,
          g_bid.z, g_tid.x, g_tid.y, g_tid.z, g_bdim.x, g_bdim.y, g_bdim.z);
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

// ---------------- fibers ----------------
// Minimal x86-64 SysV context switch: saves the callee-saved registers, MXCSR and the x87 control
// word on the current stack, stores the stack pointer to *from, switches to `to` and restores.
extern "C" void emu_ctx_switch(void** from, void* to);
__asm__(R"(
.text
.globl emu_ctx_switch
.type emu_ctx_switch,@function
.weak emu_ctx_switch
emu_ctx_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
.size emu_ctx_switch, .-emu_ctx_switch
)");
struct Fiber {
  void* sp = nullptr;  // saved stack pointer (emu_ctx_switch)
  char* stack = nullptr;
  int state = 0;  // 0 runnable, 1 at __syncthreads, 2 done, 3 at a warp barrier
#ifdef EMU_ASAN
  void* fake = nullptr;
#endif
};
struct WarpSlot {
  int arrived = 0;
  int kind = 0;  // 1 shuffle, 2 syncwarp (all lanes of one round must agree)
  uint64_t vals[32];
  uint64_t snap[32];
};
struct Sched {
  void* main_sp = nullptr;
  std::vector<Fiber> f;
  std::vector<WarpSlot> warps;
  int nt = 0;
  int cur = 0;
  std::function<void()> body;
  static constexpr size_t kStack = 256 * 1024;
#ifdef EMU_ASAN
  const void* main_bottom = nullptr;
  size_t main_size = 0;
  void* main_fake = nullptr;
#endif
};
inline Sched g_s;

inline void set_tid(int t) {
  g_tid.x = unsigned(t) % g_bdim.x;
  g_tid.y = (unsigned(t) / g_bdim.x) % g_bdim.y;
  g_tid.z = unsigned(t) / (g_bdim.x * g_bdim.y);
}

// switch from the running fiber back to the scheduler
inline void to_main(bool finishing) {
#ifdef EMU_ASAN
  __sanitizer_start_switch_fiber(finishing ? nullptr : &g_s.f[g_s.cur].fake, g_s.main_bottom, g_s.main_size);
#else
  (void)finishing;
#endif
  emu_ctx_switch(&g_s.f[g_s.cur].sp, g_s.main_sp);
#ifdef EMU_ASAN
  __sanitizer_finish_switch_fiber(g_s.f[g_s.cur].fake, &g_s.main_bottom, &g_s.main_size);
#endif
}

inline void trampoline() {
#ifdef EMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &g_s.main_bottom, &g_s.main_size);
#endif
  g_s.body();
  g_s.f[g_s.cur].state = 2;
#ifdef EMU_ASAN
  __sanitizer_start_switch_fiber(nullptr, g_s.main_bottom, g_s.main_size);
#endif
  emu_ctx_switch(&g_s.f[g_s.cur].sp, g_s.main_sp);
  fatal("finished fiber resumed");
}

inline void syncthreads() {
  if (!g_in_kernel) fatal("__syncthreads outside a kernel");
  g_s.f[g_s.cur].state = 1;
  to_main(false);
}

inline void run_fiber(int t) {
  g_s.cur = t;
  set_tid(t);
#ifdef EMU_ASAN
  __sanitizer_start_switch_fiber(&g_s.main_fake, g_s.f[t].stack, Sched::kStack);
#endif
  emu_ctx_switch(&g_s.main_sp, g_s.f[t].sp);
#ifdef EMU_ASAN
  __sanitizer_finish_switch_fiber(g_s.main_fake, nullptr, nullptr);
#endif
}

inline bool g_reverse = env_int("EMU_ORDER_REVERSE", 0) != 0 || (getenv("EMU_ORDER") && !strcmp(getenv("EMU_ORDER"), "reverse"));
inline std::set<std::string> g_warned_partial_barrier;

inline void run_block(int nt) {
  while (int(g_s.f.size()) < nt) {
    Fiber fb;
    void* m = mmap(nullptr, Sched::kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) fatal("mmap of a fiber stack failed");
    fb.stack = static_cast<char*>(m);
    g_s.f.push_back(fb);
  }
  g_s.nt = nt;
  const int nwarps = (nt + 31) / 32;
  if (int(g_s.warps.size()) < nwarps) g_s.warps.resize(nwarps);
  for (int w = 0; w < nwarps; ++w) g_s.warps[w].arrived = 0;
  for (int t = 0; t < nt; ++t) {
    Fiber& fb = g_s.f[t];
    // initial frame for emu_ctx_switch: [mxcsr|fpcw] r15 r14 r13 r12 rbx rbp, then the return
    // address (trampoline) and a fake return address for it (16-byte alignment at its entry)
    uint64_t* top = reinterpret_cast<uint64_t*>(fb.stack + Sched::kStack);
    top[-1] = 0;
    top[-2] = reinterpret_cast<uint64_t>(&trampoline);
    for (int r = 3; r <= 8; ++r) top[-r] = 0;
    top[-9] = 0x1f80ull | (0x037full << 32);  // default MXCSR, x87 control word
    fb.sp = &top[-9];
    fb.state = 0;
  }
  for (;;) {
    bool ran = false;
    for (int k = 0; k < nt; ++k) {
      const int t = g_reverse ? nt - 1 - k : k;
      if (g_s.f[t].state != 0) continue;
      ran = true;
      run_fiber(t);
    }
    if (ran) continue;
    int at_bar = 0, done = 0, at_warp = 0;
    for (int t = 0; t < nt; ++t) {
      const int s = g_s.f[t].state;
      at_bar += s == 1;
      done += s == 2;
      at_warp += s == 3;
    }
    if (done == nt) break;
    if (at_warp > 0) {
      // a warp barrier that cannot complete: some lane exited or waits at __syncthreads
      for (int w = 0; w < nwarps; ++w) {
        if (g_s.warps[w].arrived == 0) continue;
        int ld = 0, lb = 0;
        for (int l = 0; l < 32 && w * 32 + l < nt; ++l) {
          ld += g_s.f[w * 32 + l].state == 2;
          lb += g_s.f[w * 32 + l].state == 1;
        }
        g_tid = uint3{unsigned(w * 32) % g_bdim.x, 0, 0};
        fatal("warp %d: %d lanes wait at a shuffle/__syncwarp, %d lanes have exited, %d wait at __syncthreads "
              "(a full-mask warp operation needs all 32 lanes)",
              w, g_s.warps[w].arrived, ld, lb);
      }
      fatal("warp barrier deadlock");
    }
    // everyone alive is at __syncthreads
    if (done > 0) {
      std::string key = g_where.kernel ? g_where.kernel : "?";
      if (g_warned_partial_barrier.insert(key).second)
        report(false, "__syncthreads reached by %d threads while %d threads of the block have exited (UB per the "
                      "CUDA programming guide; works on sm_70+ in practice)", at_bar, done);
    }
    for (int t = 0; t < nt; ++t)
      if (g_s.f[t].state == 1) g_s.f[t].state = 0;
  }
}

// ---------------- warp operations ----------------
inline WarpSlot& warp_enter(unsigned mask, const char* what, int kind) {
  if (!g_in_kernel) fatal("%s outside a kernel", what);
  if (mask != 0xffffffffu) fatal("%s with mask %#x: the emulator supports only full-warp masks", what, mask);
  const int t = g_s.cur, w = t / 32;
  if (w * 32 + 32 > g_s.nt)
    fatal("%s in a partial warp (block of %d threads: warp %d has %d lanes): full mask with missing lanes is UB", what,
          g_s.nt, w, g_s.nt - w * 32);
  WarpSlot& W = g_s.warps[w];
  if (W.arrived == 0) W.kind = kind;
  else if (W.kind != kind) fatal("%s: lanes of warp %d are at different warp operations", what, w);
  return W;
}
// Deposit (lane's value), wait for all 32 lanes, return the snapshot of the round.
inline const uint64_t* warp_barrier(WarpSlot& W, uint64_t v) {
  const int t = g_s.cur, w = t / 32, lane = t % 32;
  W.vals[lane] = v;
  if (++W.arrived == 32) {
    memcpy(W.snap, W.vals, sizeof W.snap);
    W.arrived = 0;
    for (int l = 0; l < 32; ++l)
      if (g_s.f[w * 32 + l].state == 3) g_s.f[w * 32 + l].state = 0;
  } else {
    g_s.f[t].state = 3;
    to_main(false);
  }
  return W.snap;
}
template <class T>
inline T shfl_impl(unsigned mask, T v, int src_lane_of_me_fn_kind, int arg, const char* what) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffle type");
  WarpSlot& W = warp_enter(mask, what, 1);
  uint64_t u = 0;
  memcpy(&u, &v, sizeof(T));
  const uint64_t* snap = warp_barrier(W, u);
  const int lane = g_s.cur % 32;
  int src = lane;
  switch (src_lane_of_me_fn_kind) {
    case 0: src = ((arg % 32) + 32) % 32; break;          // __shfl_sync (width 32)
    case 1: src = lane + arg < 32 ? lane + arg : lane; break;  // __shfl_down_sync
    case 2: src = lane - arg >= 0 ? lane - arg : lane; break;  // __shfl_up_sync
    case 3: src = (lane ^ arg) & 31; break;                // __shfl_xor_sync
  }
  T r;
  memcpy(&r, &snap[src], sizeof(T));
  return r;
}

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

#define threadIdx (::emu::g_tid)
#define blockIdx (::emu::g_bid)
#define blockDim (::emu::g_bdim)
#define gridDim (::emu::g_gdim)
constexpr int warpSize = 32;
inline void __syncthreads() { ::emu::syncthreads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) {
  ::emu::WarpSlot& W = ::emu::warp_enter(mask, "__syncwarp", 2);
  (void)::emu::warp_barrier(W, 0);
}
template <class T>
inline T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
  if (width != 32) ::emu::fatal("__shfl_sync width %d unsupported", width);
  return ::emu::shfl_impl<T>(mask, v, 0, src, "__shfl_sync");
}
template <class T>
inline T __shfl_down_sync(unsigned mask, T v, unsigned d, int width = 32) {
  if (width != 32) ::emu::fatal("__shfl_down_sync width %d unsupported", width);
  return ::emu::shfl_impl<T>(mask, v, 1, int(d), "__shfl_down_sync");
}
template <class T>
inline T __shfl_up_sync(unsigned mask, T v, unsigned d, int width = 32) {
  if (width != 32) ::emu::fatal("__shfl_up_sync width %d unsupported", width);
  return ::emu::shfl_impl<T>(mask, v, 2, int(d), "__shfl_up_sync");
}
template <class T>
inline T __shfl_xor_sync(unsigned mask, T v, int lm, int width = 32) {
  if (width != 32) ::emu::fatal("__shfl_xor_sync width %d unsupported", width);
  return ::emu::shfl_impl<T>(mask, v, 3, lm, "__shfl_xor_sync");
}
template <class T>
inline T __ldg(const T* p) { return *p; }
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __saturatef(float x) { return x < 0.f ? 0.f : (x > 1.f ? 1.f : x); }

// ---------------- runtime API ----------------
inline const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorLaunchOutOfResources: return "cudaErrorLaunchOutOfResources";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
  }
  return "cudaErrorUnknown";
}
inline const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    default: return "emulated error";
  }
}
inline cudaError_t cudaGetLastError() {
  const cudaError_t e = ::emu::t_last;
  ::emu::t_last = cudaSuccess;
  return e;
}
inline cudaError_t cudaPeekAtLastError() { return ::emu::t_last; }
inline cudaError_t cudaGetDeviceCount(int* n) {
  *n = ::emu::env_int("EMU_DEVICES", 1);
  return cudaSuccess;
}
namespace emu {
inline thread_local int t_device = 0;
}
inline cudaError_t cudaSetDevice(int d) {
  int n = 0;
  cudaGetDeviceCount(&n);
  if (d < 0 || d >= n) return ::emu::set_error(cudaErrorInvalidDevice);
  ::emu::t_device = d;
  return cudaSuccess;
}
inline cudaError_t cudaGetDevice(int* d) {
  *d = ::emu::t_device;
  return cudaSuccess;
}
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int d) {
  int n = 0;
  cudaGetDeviceCount(&n);
  if (d < 0 || d >= n) return ::emu::set_error(cudaErrorInvalidDevice);
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "EMULATED H100 (CPU fibers)");
  p->totalGlobalMem = ::emu::g_mem_limit;
  p->sharedMemPerBlock = 48 * 1024;
  p->sharedMemPerBlockOptin = 227 * 1024;
  p->sharedMemPerMultiprocessor = 228 * 1024;
  p->regsPerBlock = 65536;
  p->warpSize = 32;
  p->maxThreadsPerBlock = 1024;
  p->maxThreadsDim[0] = 1024, p->maxThreadsDim[1] = 1024, p->maxThreadsDim[2] = 64;
  p->maxGridSize[0] = 2147483647, p->maxGridSize[1] = 65535, p->maxGridSize[2] = 65535;
  p->major = 9;
  p->minor = 0;
  p->multiProcessorCount = ::emu::sm_count();
  p->l2CacheSize = 50 << 20;
  return cudaSuccess;
}
inline cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr a, int d) {
  int n = 0;
  cudaGetDeviceCount(&n);
  if (d < 0 || d >= n) return ::emu::set_error(cudaErrorInvalidDevice);
  switch (a) {
    case cudaDevAttrMultiProcessorCount: *v = ::emu::sm_count(); break;
    case cudaDevAttrMaxThreadsPerBlock: *v = 1024; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *v = 48 * 1024; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *v = 227 * 1024; break;
    case cudaDevAttrComputeCapabilityMajor: *v = 9; break;
    case cudaDevAttrComputeCapabilityMinor: *v = 0; break;
    default: return ::emu::set_error(cudaErrorInvalidValue);
  }
  return cudaSuccess;
}
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned flags) {
  std::lock_guard<std::recursive_mutex> lock(::emu::g_mu);
  *s = reinterpret_cast<cudaStream_t>(new int(int(flags)));
  ::emu::g_streams.insert(*s);
  if (flags & cudaStreamNonBlocking) ::emu::g_nonblocking_streams++;
  return cudaSuccess;
}
inline cudaError_t cudaStreamCreate(cudaStream_t* s) { return cudaStreamCreateWithFlags(s, 0); }
inline cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  std::lock_guard<std::recursive_mutex> lock(::emu::g_mu);
  if (!::emu::check_stream(s, "cudaStreamSynchronize")) return ::emu::set_error(cudaErrorInvalidResourceHandle);
  return cudaSuccess;
}
inline cudaError_t cudaStreamDestroy(cudaStream_t s) {
  std::lock_guard<std::recursive_mutex> lock(::emu::g_mu);
  if (!::emu::g_streams.erase(s)) {
    ::emu::report(true, "cudaStreamDestroy of an unknown stream");
    return ::emu::set_error(cudaErrorInvalidResourceHandle);
  }
  int* f = reinterpret_cast<int*>(s);
  if (*f & cudaStreamNonBlocking) ::emu::g_nonblocking_streams--;
  delete f;
  return cudaSuccess;
}
inline cudaError_t cudaMalloc(void** p, size_t n) {
  std::lock_guard<std::recursive_mutex> lock(::emu::g_mu);
  using namespace ::emu;
  *p = nullptr;
  if (g_in_kernel) fatal("cudaMalloc inside a kernel");
  if (n == 0) n = 1;
  if (g_live_bytes + n > g_mem_limit) return set_error(cudaErrorMemoryAllocation);
  const size_t pg = 4096;
  const size_t pages = (n + 63 + pg - 1) / pg;
  const size_t maplen = (pages + 2) * pg;
  char* m = static_cast<char*>(mmap(nullptr, maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (m == MAP_FAILED) return set_error(cudaErrorMemoryAllocation);
  mprotect(m, pg, PROT_NONE);
  mprotect(m + (pages + 1) * pg, pg, PROT_NONE);
  char* end = m + (pages + 1) * pg;
  char* user = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(end) - n) & ~uintptr_t(63));
  memset(m + pg, 0xff, pages * pg);
  g_allocs[reinterpret_cast<uintptr_t>(user)] = Alloc{m, maplen, n, false};
  g_live_bytes += n;
  *p = user;
  return cudaSuccess;
}
inline cudaError_t cudaFree(void* p) {
  std::lock_guard<std::recursive_mutex> lock(::emu::g_mu);
  using namespace ::emu;
  if (!p) return cudaSuccess;
  auto it = g_allocs.find(reinterpret_cast<uintptr_t>(p));
  if (it == g_allocs.end() || it->second.freed) {
    report(true, "cudaFree(%p): %s", p, it == g_allocs.end() ? "not an allocation" : "double free");
    return set_error(cudaErrorInvalidValue);
  }
  it->second.freed = true;
  g_live_bytes -= it->second.size;
  mprotect(it->second.map, it->second.maplen, PROT_NONE);  // use after free faults
  g_quarantine_bytes += it->second.maplen;
  return cudaSuccess;
}
namespace emu {
inline bool check_range(const void* p, size_t n, bool want_device, const char* what, const char* which) {
  const Alloc* a = find_alloc(p, n);
  if (want_device) {
    if (!a || a->freed) {
      report(true, "%s: %s range [%p, +%zu) is not inside a live device allocation (%s)", what, which, p, n,
             describe_ptr(p).c_str());
      return false;
    }
  } else if (find_alloc(p, 0)) {
    report(true, "%s: %s %p is device memory but the copy kind says host", what, which, p);
    return false;
  }
  return true;
}
}  // namespace emu
inline cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, cudaMemcpyKind k, cudaStream_t s) {
  std::lock_guard<std::recursive_mutex> lock(::emu::g_mu);
  using namespace ::emu;
  if (g_in_kernel) fatal("cudaMemcpyAsync inside a kernel");
  if (!check_stream(s, "cudaMemcpyAsync")) return set_error(cudaErrorInvalidResourceHandle);
  if (n == 0) return cudaSuccess;
  const bool dd = k == cudaMemcpyDeviceToDevice || k == cudaMemcpyHostToDevice;
  const bool sd = k == cudaMemcpyDeviceToDevice || k == cudaMemcpyDeviceToHost;
  if (k == cudaMemcpyDefault || k == cudaMemcpyHostToHost) {
    report(true, "cudaMemcpyAsync kind %d", int(k));
  } else {
    if (!check_range(dst, n, dd, "cudaMemcpyAsync", "dst") || !check_range(src, n, sd, "cudaMemcpyAsync", "src"))
      return set_error(cudaErrorInvalidValue);
  }
  const uintptr_t d = reinterpret_cast<uintptr_t>(dst), sa = reinterpret_cast<uintptr_t>(src);
  if (d < sa + n && sa < d + n && dst != src) report(true, "cudaMemcpyAsync with overlapping ranges (UB)");
  memmove(dst, src, n);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpy(void* dst, const void* src, size_t n, cudaMemcpyKind k) {
  return cudaMemcpyAsync(dst, src, n, k, nullptr);
}
inline cudaError_t cudaMemsetAsync(void* p, int v, size_t n, cudaStream_t s) {
  std::lock_guard<std::recursive_mutex> lock(::emu::g_mu);
  using namespace ::emu;
  if (!check_stream(s, "cudaMemsetAsync")) return set_error(cudaErrorInvalidResourceHandle);
  if (n == 0) return cudaSuccess;
  if (!check_range(p, n, true, "cudaMemsetAsync", "dst")) return set_error(cudaErrorInvalidValue);
  memset(p, v, n);
  return cudaSuccess;
}
inline cudaError_t cudaMemset(void* p, int v, size_t n) { return cudaMemsetAsync(p, v, n, nullptr); }
template <class T>
cudaError_t cudaFuncSetAttribute(T* f, cudaFuncAttribute a, int v) {
  std::lock_guard<std::recursive_mutex> lock(::emu::g_mu);
  if (a == cudaFuncAttributeMaxDynamicSharedMemorySize) {
    if (v < 0 || v > 227 * 1024) return ::emu::set_error(cudaErrorInvalidValue);
    ::emu::g_attr[reinterpret_cast<const void*>(f)] = v;
  }
  return cudaSuccess;
}
namespace emu {
// Called by the patched pool (prep.py) when a block goes back to the free list: its contents are
// undefined for the next user.
inline void poison(void* p, size_t n) {
  std::lock_guard<std::recursive_mutex> lock(g_mu);
  if (find_alloc(p, n)) memset(p, 0xff, n);
}
}  // namespace emu
