#include "parallel/nccl_loader.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "core/backend.h"

namespace gnas {
namespace nccl {
namespace {

std::once_flag g_once;
Api g_api;
std::string g_error;

template <typename F>
bool bind(void* lib, const char* name, F& fn, std::string& missing) {
  fn = reinterpret_cast<F>(dlsym(lib, name));
  if (!fn) missing += std::string(missing.empty() ? "" : ", ") + name;
  return fn != nullptr;
}

void load() {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("GNAS_NCCL_LIBRARY"); env && *env) candidates.push_back(env);
#ifdef GNAS_NCCL_BUILD_PATH
  candidates.push_back(GNAS_NCCL_BUILD_PATH);
#endif
  candidates.push_back("libnccl.so.2");
  candidates.push_back("libnccl.so");
  std::string tried;
  void* lib = nullptr;
  for (const std::string& c : candidates) {
    lib = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib) {
      g_api.library = c;
      break;
    }
    const char* why = dlerror();
    tried += "\n  " + c + ": " + (why ? why : "not found");
  }
  if (!lib) {
    g_error = "NCCL (the collective library multi-GPU training all-reduces gradients with) was not found; tried:" +
              tried + "\nInstall NCCL (e.g. the nvidia-nccl-cu12 wheel or libnccl2) or set GNAS_NCCL_LIBRARY=/path/to/libnccl.so.2";
    return;
  }
  std::string missing;
  bind(lib, "ncclGetVersion", g_api.GetVersion, missing);
  bind(lib, "ncclGetErrorString", g_api.GetErrorString, missing);
  bind(lib, "ncclGetUniqueId", g_api.GetUniqueId, missing);
  bind(lib, "ncclCommInitAll", g_api.CommInitAll, missing);
  bind(lib, "ncclCommInitRank", g_api.CommInitRank, missing);
  bind(lib, "ncclCommDestroy", g_api.CommDestroy, missing);
  bind(lib, "ncclAllReduce", g_api.AllReduce, missing);
  bind(lib, "ncclBroadcast", g_api.Broadcast, missing);
  bind(lib, "ncclGroupStart", g_api.GroupStart, missing);
  bind(lib, "ncclGroupEnd", g_api.GroupEnd, missing);
  if (!missing.empty()) {
    g_error = g_api.library + " lacks NCCL symbols: " + missing;
    return;
  }
  if (g_api.GetVersion(&g_api.version) != Success) g_api.version = 0;
  if (g_api.version < 21000) {
    g_error = g_api.library + " is NCCL version code " + std::to_string(g_api.version) +
              "; NCCL >= 2.10 is needed (ncclAvg)";
  }
}

}  // namespace

const Api& api() {
  std::call_once(g_once, load);
  if (!g_error.empty()) throw std::runtime_error(g_error);
  return g_api;
}

std::string unavailable_reason() {
  std::call_once(g_once, load);
  return g_error;
}

void check(Result r, const char* where) {
  if (r == Success) return;
  const char* msg = g_api.GetErrorString ? g_api.GetErrorString(r) : "unknown error";
  static const char* names[] = {"ncclSuccess",     "ncclUnhandledCudaError", "ncclSystemError", "ncclInternalError",
                                "ncclInvalidArgument", "ncclInvalidUsage", "ncclRemoteError", "ncclInProgress"};
  const std::string name = (int(r) >= 0 && int(r) < 8) ? names[int(r)] : "ncclError" + std::to_string(int(r));
  throw DeviceError(name + ": " + msg + " (" + where + ")");
}

}  // namespace nccl
}  // namespace gnas
