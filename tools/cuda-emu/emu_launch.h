// A kernel launch (cudaLaunchKernelEx, the call the backend's launch seam makes on a host
// compiler): configuration and argument checks, the blocks run one after another with poisoned
// shared memory, stream checks, kernel names, the fault handler and the summary printed at exit.
#pragma once
#include <cxxabi.h>
#include <dlfcn.h>
#include <elf.h>
#include <execinfo.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
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
// Every static __shared__ variable is in the section emu_shared (emu_types.h); the linker names its
// bounds. Poisoned before each block: the blocks of a launch run one after another on the same
// variables, so without this a block would read what the previous one left.
extern "C" char __start_emu_shared[] __attribute__((weak));
extern "C" char __stop_emu_shared[] __attribute__((weak));
inline void poison_static_shared() {
  char* begin = __start_emu_shared;
  char* end = __stop_emu_shared;
  if (begin && end > begin) memset(begin, 0xff, size_t(end - begin));
}

// ---------------- kernel names ----------------
// A launch passes only the kernel's address (cudaLaunchKernelEx); its name comes from the
// executable's symbol table (the kernels are mostly in anonymous namespaces, so not in the dynamic
// symbols dladdr sees), demangled and shortened to "name<template args>". Looked up once per kernel.
inline std::string symbol_of(const void* fn) {
  Dl_info info{};
  if (!dladdr(fn, &info) || !info.dli_fname) return "";
  if (info.dli_sname && info.dli_saddr == fn) return info.dli_sname;
  const int fd = open("/proc/self/exe", O_RDONLY);
  if (fd < 0) return "";
  struct stat st {};
  std::string found;
  if (fstat(fd, &st) == 0 && size_t(st.st_size) > sizeof(Elf64_Ehdr)) {
    void* m = mmap(nullptr, size_t(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    if (m != MAP_FAILED) {
      const char* base = static_cast<const char*>(m);
      const auto* eh = reinterpret_cast<const Elf64_Ehdr*>(base);
      const auto* sh = reinterpret_cast<const Elf64_Shdr*>(base + eh->e_shoff);
      // a position-independent executable is loaded at dli_fbase; a fixed one at its link addresses
      const uintptr_t bias = eh->e_type == ET_DYN ? reinterpret_cast<uintptr_t>(info.dli_fbase) : 0;
      const uintptr_t want = reinterpret_cast<uintptr_t>(fn) - bias;
      for (int i = 0; i < eh->e_shnum && found.empty(); ++i) {
        if (sh[i].sh_type != SHT_SYMTAB) continue;
        const auto* sym = reinterpret_cast<const Elf64_Sym*>(base + sh[i].sh_offset);
        const char* names = base + sh[sh[i].sh_link].sh_offset;
        for (size_t k = 0; k < sh[i].sh_size / sizeof(Elf64_Sym); ++k)
          if (ELF64_ST_TYPE(sym[k].st_info) == STT_FUNC && sym[k].st_value == want) {
            found = names + sym[k].st_name;
            break;
          }
      }
      munmap(m, size_t(st.st_size));
    }
  }
  close(fd);
  return found;
}
inline const char* kernel_name(const void* fn) {
  static std::map<const void*, std::string> names;
  auto it = names.find(fn);
  if (it != names.end()) return it->second.c_str();
  std::string s = symbol_of(fn);
  int status = 0;
  char* d = s.empty() ? nullptr : abi::__cxa_demangle(s.c_str(), nullptr, nullptr, &status);
  if (d) {
    s = d;
    free(d);
    if (!s.empty() && s.back() == ')') {  // drop the parameter list
      int depth = 0;
      for (size_t i = s.size(); i-- > 0;) {
        depth += s[i] == ')' ? 1 : (s[i] == '(' ? -1 : 0);
        if (depth == 0) {
          s.resize(i);
          break;
        }
      }
    }
    if (s.compare(0, 5, "void ") == 0) s.erase(0, 5);  // a template's return type
    for (const char* ns : {"gnas::cuda::", "(anonymous namespace)::", "dense_detail::", "gemm::"})
      for (size_t p; (p = s.find(ns)) != std::string::npos;) s.erase(p, strlen(ns));
  }
  if (s.empty()) {
    char b[40];
    snprintf(b, sizeof b, "kernel@%p", fn);
    s = b;
  }
  return names.emplace(fn, s).first->second.c_str();
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
                         "\nEMU FAULT: signal %d at address %p %s\n  kernel %s block (%u,%u,%u) thread "
                         "(%u,%u,%u) blockDim (%u,%u,%u) gridDim (%u,%u,%u)\n",
                         sig, si->si_addr, g_in_kernel ? "in a kernel" : "outside kernels",
                         g_where.kernel ? g_where.kernel : "-",
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
void launch_kernel(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream, A&&... args) {
  std::lock_guard<std::recursive_mutex> lock(g_mu);
  ++g_launches;
  const char* name = kernel_name(reinterpret_cast<const void*>(kernel));
  Where saved = g_where;
  g_where = Where{name};
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
        poison_static_shared();
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

// The runtime's typed launch (CUDA 12): converts the arguments to the kernel's parameter types,
// like a <<<>>> launch; errors go to cudaGetLastError.
template <class... P, class... A>
inline cudaError_t cudaLaunchKernelEx(const cudaLaunchConfig_t* config, void (*kernel)(P...), A&&... args) {
  if (!config || config->numAttrs != 0) {
    ::emu::report(true, "cudaLaunchKernelEx: %s", config ? "launch attributes are not emulated" : "no config");
    return ::emu::set_error(cudaErrorInvalidValue);
  }
  const cudaError_t before = ::emu::t_last;
  ::emu::t_last = cudaSuccess;
  ::emu::launch_kernel(kernel, config->gridDim, config->blockDim, config->dynamicSmemBytes, config->stream,
                       std::forward<A>(args)...);
  const cudaError_t e = ::emu::t_last;
  if (e == cudaSuccess) ::emu::t_last = before;
  return e;
}
