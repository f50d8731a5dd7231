// What the supernet's calls take and return: the options it is built with, the BN mode of a
// forward pass, a borrowed batch of images, and the per-path results. Shared by the one-device
// replica (supernet/replica.h) and the public supernet over 1..R replicas (parallel/supernet.h).
#pragma once
#include <cstdint>
#include <string>

namespace gnas {

struct SupernetOptions {
  uint64_t seed = 0;
  int threads = 0;
  std::string backend = "cpu";   // "cpu" | "reference" | "cuda"
  int device = 0;                 // cuda: device ordinal
  std::string math = "fp32";      // cuda: GEMM arithmetic "fp32" | "tf32" | "bf16"
  int gpus = 1;                   // cuda: data-parallel replicas on devices device .. device+gpus-1
  float momentum = 0.9f;
  bool nesterov = true;
  float weight_decay = 4e-5f;          // conv and fc weights
  float weight_decay_no_decay = 0.0f;  // BN parameters and biases
  float label_smoothing = 0.1f;
  // Arithmetic of the 1x1 convs when scoring paths (evaluate; never training or predict):
  // "fp32", or "bf16" / "auto": bfloat16 products where the backend runs them fast
  // (Backend::fast_bf16: the cpu backend on AVX512-BF16 CPUs), FP32 elsewhere.
  std::string score_math = "auto";
};

// How batch norm behaves during a forward pass.
enum class BnMode : int {
  Train = 0,    // batch statistics, running statistics updated (training)
  Batch = 1,    // batch statistics, running statistics untouched (GreedyNAS scoring)
  Running = 2,  // running statistics (eval mode)
};

// A batch of images (borrowed; owned by the caller for the duration of the call).
struct Batch {
  const uint8_t* u8 = nullptr;  // NHWC 0..255, or
  const float* f32 = nullptr;   // NHWC in [0, 1]
  const int32_t* labels = nullptr;
  int n = 0;
};

struct PathScore {
  double loss = 0;     // mean cross-entropy, no smoothing
  int64_t correct = 0;
};

struct StepResult {
  double loss = 0;     // mean training loss, smoothing included
  int64_t correct = 0;
};

}  // namespace gnas
