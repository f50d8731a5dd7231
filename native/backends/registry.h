// The backend registry: the backends this build contains, by name. The supernet, the binding
// and the tests pick a backend through make_backend(); nothing else names a concrete backend
// class. It sits above the backends (it includes each one's factory), below the supernet.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/backend.h"

namespace gnas {

struct BackendOptions {
  int threads = 0;             // cpu: worker threads (0 = all cores)
  int device = 0;              // cuda: device ordinal
  std::string math = "fp32";   // cuda: GEMM arithmetic, "fp32" | "tf32" | "bf16" (FP32 accumulation)
};

// "reference", "cpu" or "cuda"; throws std::invalid_argument for an unknown name or one this
// build lacks, and a backend error (e.g. no CUDA device) when it cannot start.
std::unique_ptr<Backend> make_backend(const std::string& name, const BackendOptions& options);
std::unique_ptr<Backend> make_backend(const std::string& name, int threads);
// The backends compiled into this build ("reference", "cpu", and "cuda" when nvcc was found).
std::vector<std::string> backend_names();

// What a backend can do on this machine: compiled in, usable now (e.g. a CUDA device and driver
// found), and a one-line detail ("2 devices: NVIDIA H100 ...", or why not).
struct BackendInfo {
  std::string name;
  bool built = false;
  bool usable = false;
  int devices = 0;
  std::string detail;
};
std::vector<BackendInfo> probe_backends();

}  // namespace gnas
