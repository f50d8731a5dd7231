// The threads of a block: fibers with their own stacks (an x86-64 context switch), the block
// scheduler that runs them between barriers, and the warp operations (shuffles, __syncwarp).
#pragma once
#include <sys/mman.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define EMU_ASAN 1
#include <sanitizer/common_interface_defs.h>
#endif

#include "emu_state.h"

namespace emu {
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
}  // namespace emu
