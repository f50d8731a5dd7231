#include "backends/registry.h"

#include <stdexcept>

#include "backends/cpu/cpu_backend.h"
#include "backends/reference/reference_backend.h"
#ifdef GNAS_HAVE_CUDA
#include "backends/cuda/cuda_backend.h"
#endif

namespace gnas {

std::unique_ptr<Backend> make_backend(const std::string& name, const BackendOptions& options) {
  if (name == "reference") return make_reference_backend();
  if (name == "cpu") return make_cpu_backend(options.threads);
  if (name == "cuda") {
#ifdef GNAS_HAVE_CUDA
    return cuda::make_cuda_backend(options.device, cuda::parse_math_mode(options.math));
#else
    throw std::invalid_argument(
        "backend 'cuda' is not in this build: nvcc was not found when the addon was compiled "
        "(install the CUDA toolkit and rebuild with npm run build:native)");
#endif
  }
  std::string built;
  for (const auto& n : backend_names()) built += (built.empty() ? "" : ", ") + n;
  throw std::invalid_argument("unknown backend '" + name + "' (built: " + built + ")");
}

std::unique_ptr<Backend> make_backend(const std::string& name, int threads) {
  BackendOptions o;
  o.threads = threads;
  return make_backend(name, o);
}

std::vector<std::string> backend_names() {
#ifdef GNAS_HAVE_CUDA
  return {"reference", "cpu", "cuda"};
#else
  return {"reference", "cpu"};
#endif
}

std::vector<BackendInfo> probe_backends() {
  std::vector<BackendInfo> out;
  out.push_back({"reference", true, true, 0, "double-accumulating reference, one thread"});
  out.push_back({"cpu", true, true, 0, "SIMD kernels: " + cpu::selected_isa()});
  BackendInfo c;
  c.name = "cuda";
#ifdef GNAS_HAVE_CUDA
  c.built = true;
  cuda::DeviceProbe p = cuda::probe_devices();
  c.devices = p.count;
  c.usable = p.count > 0;
  c.detail = p.detail;
#else
  c.detail = "not built: nvcc was not found when the addon was compiled (or GNAS_CUDA=OFF)";
#endif
  out.push_back(c);
  return out;
}

}  // namespace gnas
