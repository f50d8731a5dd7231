// The CUDA backend: the Backend interface (core/backend.h) on one GPU. This file holds the error
// type, the device probe, the memory pool and the Backend subclass; it only dispatches to the
// kernel launchers (launchers.h; one .cu file per op).
//
// Design
//   Streams. Each backend owns one non-blocking stream and queues every op, copy and fill on it,
//   so the ops of one backend run in the order they were issued and need no events. download()
//   and synchronize() wait on that stream; upload() waits too, so the caller may free or reuse its
//   host buffer as soon as upload() returns, whatever kind of host memory it is.
//
//   Device-current rule. Calls arrive from different host threads (libuv workers; one host thread
//   per GPU in multi-GPU training), and the current device is per host thread. So every public
//   method first makes the backend's device current (cudaSetDevice; cheap when it already is)
//   before any allocation, copy or launch.
//
//   Memory pool. Device memory comes from plain cudaMalloc (never managed memory, never
//   cudaMallocAsync) through a caching allocator: sizes are rounded up (to 512 B below 1 MiB, to
//   whole 2 MiB above), released blocks go to a size-keyed free list, and an allocation takes the
//   smallest cached block that fits and is at most twice the rounded size. Since all work of the
//   backend is on its single stream, a block released while kernels that use it are still queued
//   can be handed to later work on the same stream without synchronisation: that work is queued
//   after them. (The host never touches device memory directly: upload/download are stream-ordered
//   copies on that stream too.) When cudaMalloc runs out of memory, the pool waits for the stream,
//   frees every cached block, and retries once; after that it throws a CudaError naming the size
//   and the device. The Context's scratch memory (kernels' temporaries) comes from the same pool.
//   Built with GNAS_CUDA_POOL_CHECKS (the emulator build turns it on; it also helps
//   compute-sanitizer on a GPU), the pool rounds to 64 bytes only (the Backend contract), reuses
//   only a cached block of exactly the rounded size, and fills a released block with 0xFF (NaN) on
//   the stream, so that reads past a tensor's end and reads of stale data show.
//
//   Determinism. No kernel uses floating-point atomics: reductions (BN statistics, dgamma/dbeta,
//   depthwise dw, SE/GAP sums, loss) write per-block partial sums to scratch and a second kernel
//   sums them in a fixed order, with partition sizes that depend only on the shape and the
//   device's SM count. A training run on one device is therefore bit-reproducible.
//
//   Fused variants. conv_forward_fused goes to the dense launcher, which fuses the input BN and
//   the output statistics; dwconv_forward_fused applies the input BN on load in the depthwise
//   kernel and computes the output statistics with one extra read of y. The backward fused
//   variants (conv_backward_fused, dwconv_backward_fused) use the base class's composed defaults
//   for now: they allocate device scratch through alloc()/release() and call the plain ops
//   (bn_act_apply, bn_act_backward, conv/dwconv backward), which is correct but costs extra passes.
#include "backends/cuda/cuda_backend.h"

#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <exception>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "backends/cuda/cuda_common.cuh"
#include "backends/cuda/launchers.h"

namespace gnas {
namespace cuda {

// ---------------- errors ----------------
namespace {
std::string error_text(cudaError_t code, const std::string& where) {
  const char* name = cudaGetErrorName(code);
  const char* text = cudaGetErrorString(code);
  return std::string(name ? name : "cudaError?") + ": " + (text ? text : "unknown error") + " (" + where + ")";
}

std::string mib(size_t bytes) {
  char b[64];
  std::snprintf(b, sizeof b, "%.1f MiB", double(bytes) / (1024.0 * 1024.0));
  return b;
}
}  // namespace

CudaError::CudaError(cudaError_t code, const std::string& where)
    : DeviceError(error_text(code, where)), code_(code) {}

void check(cudaError_t e, const char* where) {
  if (e != cudaSuccess) {
    // clear the thread's last-error state for non-sticky errors, so the next check does not see
    // this one again
    (void)cudaGetLastError();
    throw CudaError(e, where ? where : "");
  }
}

// ---------------- math modes ----------------
MathMode parse_math_mode(const std::string& s) {
  if (s == "fp32") return MathMode::FP32;
  if (s == "tf32") return MathMode::TF32;
  if (s == "bf16") return MathMode::BF16;
  throw std::invalid_argument("unknown CUDA math mode '" + s + "' (expected fp32, tf32 or bf16)");
}

const char* math_mode_name(MathMode m) {
  switch (m) {
    case MathMode::FP32: return "fp32";
    case MathMode::TF32: return "tf32";
    case MathMode::BF16: return "bf16";
  }
  return "fp32";
}

// ---------------- device probe ----------------
DeviceProbe probe_devices() {
  DeviceProbe out;
  try {
    int count = 0;
    const cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
      (void)cudaGetLastError();
      out.count = 0;
      out.detail = "no usable CUDA device: " + error_text(e, "cudaGetDeviceCount");
      return out;
    }
    if (count <= 0) {
      out.count = 0;
      out.detail = "no usable CUDA device: the driver reports 0 devices";
      return out;
    }
    std::string list;
    for (int i = 0; i < count; ++i) {
      cudaDeviceProp prop;
      std::string item;
      if (cudaGetDeviceProperties(&prop, i) == cudaSuccess) {
        char b[320];
        std::snprintf(b, sizeof b, "%s (sm_%d%d, %.1f GiB)", prop.name, prop.major, prop.minor,
                      double(prop.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
        item = b;
      } else {
        (void)cudaGetLastError();
        item = "device " + std::to_string(i) + " (properties unavailable)";
      }
      list += (i ? ", " : "") + item;
    }
    out.count = count;
    out.detail = std::to_string(count) + (count == 1 ? " device: " : " devices: ") + list;
  } catch (...) {
    // never throws (e.g. bad_alloc while formatting)
    out.count = 0;
    out.detail = "no usable CUDA device: probe failed";
  }
  (void)cudaGetLastError();
  return out;
}

namespace {

// ---------------- memory pool ----------------
class MemoryPool {
 public:
  explicit MemoryPool(int device) : device_(device) {}
  // The backend's stream, once created (GNAS_CUDA_POOL_CHECKS poisons released blocks on it).
  void set_stream(cudaStream_t stream) { stream_ = stream; }
  MemoryPool(const MemoryPool&) = delete;
  MemoryPool& operator=(const MemoryPool&) = delete;

  // The caller has made the device current. `stream` is the backend's stream (waited on before
  // cached blocks are freed after an out-of-memory).
  void* alloc(size_t bytes, cudaStream_t stream) {
    const size_t size = round(bytes);
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.lower_bound(size);
      if (it != free_.end() && (kExactReuse ? it->first == size : it->first / 2 <= size)) {
        void* p = it->second;
        const size_t bs = it->first;
        free_.erase(it);
        cached_bytes_ -= bs;
        live_[p] = bs;
        live_bytes_ += bs;
        return p;
      }
    }
    void* p = nullptr;
    cudaError_t e = cudaMalloc(&p, size);
    if (e == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      p = nullptr;
      release_cached(stream);
      e = cudaMalloc(&p, size);
    }
    if (e != cudaSuccess) {
      (void)cudaGetLastError();
      size_t in_use;
      {
        std::lock_guard<std::mutex> lock(mu_);
        in_use = live_bytes_;
      }
      throw CudaError(e, "cudaMalloc of " + mib(size) + " on device " + std::to_string(device_) + ", " + mib(in_use) +
                             " in use by this backend");
    }
    std::lock_guard<std::mutex> lock(mu_);
    live_[p] = size;
    live_bytes_ += size;
    return p;
  }

  // Back to the free list (stream-ordered reuse, see the file header). Unknown pointers and null
  // are ignored: release runs in destructors and must not throw.
  void release(void* p) noexcept {
    if (!p) return;
    try {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = live_.find(p);
      if (it == live_.end()) return;
      const size_t bs = it->second;
      live_.erase(it);
      live_bytes_ -= bs;
      if (kExactReuse) poison(p, bs);
      free_.emplace(bs, p);
      cached_bytes_ += bs;
    } catch (...) {
      // a failed emplace (bad_alloc) leaks the block; nothing better to do in a noexcept path
    }
  }

  // Frees every cached (released) block: first takes them off the list, then waits for the
  // stream (queued work may still use them), then cudaFree.
  void release_cached(cudaStream_t stream) {
    std::vector<void*> blocks;
    {
      std::lock_guard<std::mutex> lock(mu_);
      blocks.reserve(free_.size());
      for (auto& kv : free_) blocks.push_back(kv.second);
      free_.clear();
      cached_bytes_ = 0;
    }
    const cudaError_t se = cudaStreamSynchronize(stream);
    for (void* b : blocks) (void)cudaFree(b);
    (void)cudaGetLastError();
    check(se, "cudaStreamSynchronize before freeing cached blocks");
  }

  // Destructor path: frees everything, cached and live. The stream has been synchronised.
  void free_all() noexcept {
    try {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& kv : free_) (void)cudaFree(kv.second);
      for (auto& kv : live_) (void)cudaFree(kv.first);
      free_.clear();
      live_.clear();
      cached_bytes_ = live_bytes_ = 0;
    } catch (...) {
    }
    (void)cudaGetLastError();
  }

 private:
#if GNAS_CUDA_POOL_CHECKS
  static constexpr bool kExactReuse = true;
  static constexpr size_t kSmallUnit = 64;
#else
  static constexpr bool kExactReuse = false;
  static constexpr size_t kSmallUnit = 512;
#endif

  // GNAS_CUDA_POOL_CHECKS: a released block holds garbage for its next user. Stream-ordered, so
  // work queued before the release still reads the old contents; errors are left to the next check.
  void poison(void* p, size_t bytes) noexcept {
    int current = -1;
    if (cudaGetDevice(&current) != cudaSuccess || (current != device_ && cudaSetDevice(device_) != cudaSuccess)) {
      (void)cudaGetLastError();
      return;
    }
    (void)cudaMemsetAsync(p, 0xff, bytes, stream_);
    if (current != device_) (void)cudaSetDevice(current);
  }

  static size_t round(size_t bytes) {
    constexpr size_t kLarge = size_t(1) << 20, kLargeUnit = size_t(2) << 20;
    if (bytes == 0) return kSmallUnit;  // alloc(0) still returns a valid (>= 256-byte) block
    if (bytes < kLarge) return (bytes + kSmallUnit - 1) / kSmallUnit * kSmallUnit;
    return (bytes + kLargeUnit - 1) / kLargeUnit * kLargeUnit;
  }

  int device_;
  cudaStream_t stream_ = nullptr;
  std::mutex mu_;
  std::multimap<size_t, void*> free_;      // cached blocks by size
  std::unordered_map<void*, size_t> live_;  // handed-out blocks and their (rounded) sizes
  size_t cached_bytes_ = 0, live_bytes_ = 0;
};

// ---------------- launch context ----------------
class CudaContext final : public Context {
 public:
  explicit CudaContext(MemoryPool& pool) : pool_(pool) {}
  void* scratch_alloc(size_t bytes) override { return pool_.alloc(bytes, stream); }
  void scratch_release(void* p) override { pool_.release(p); }

 private:
  MemoryPool& pool_;
};

// ---------------- the backend ----------------
class CudaBackend final : public Backend {
 public:
  CudaBackend(int device, MathMode math) : device_(device), pool_(device), ctx_(pool_) {
    int count = 0;
    const cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) check(e, "cudaGetDeviceCount");
    if (count <= 0) count = 0;
    if (device < 0 || device >= count)
      throw std::invalid_argument("CUDA device " + std::to_string(device) + " out of range: " + std::to_string(count) +
                                  " device(s) available");
    check(cudaSetDevice(device), "cudaSetDevice");
    cudaStream_t s = nullptr;
    check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    int sms = 0;
    const cudaError_t ae = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
    if (ae != cudaSuccess) {
      (void)cudaStreamDestroy(s);
      check(ae, "cudaDeviceGetAttribute(MultiProcessorCount)");
    }
    stream_ = s;
    pool_.set_stream(s);
    ctx_.device = device;
    ctx_.stream = s;
    ctx_.math = math;
    ctx_.sm_count = sms > 0 ? sms : 1;
  }

  ~CudaBackend() override {
    // never throws: every error is ignored (and cleared) here
    (void)cudaSetDevice(device_);
    if (stream_) (void)cudaStreamSynchronize(stream_);
    pool_.free_all();
    if (stream_) (void)cudaStreamDestroy(stream_);
    (void)cudaGetLastError();
  }

  std::string name() const override { return "cuda:" + std::to_string(device_); }
  bool host_memory() const override { return false; }
  void* native_stream() override { return stream_; }
  int device() const override { return device_; }

  // ---- memory ----
  void* alloc(size_t bytes) override {
    use();
    return pool_.alloc(bytes, stream_);
  }
  void release(void* p) override {
    if (!p) return;
    pool_.release(p);  // bookkeeping only: no CUDA call, so no device switch needed
  }
  void upload(void* dst, const void* src_host, size_t bytes) override {
    if (bytes == 0) return;
    use();
    check(cudaMemcpyAsync(dst, src_host, bytes, cudaMemcpyHostToDevice, stream_), "cudaMemcpyAsync(upload)");
    check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize(upload)");
  }
  void download(void* dst_host, const void* src, size_t bytes) override {
    if (bytes == 0) return;
    use();
    check(cudaMemcpyAsync(dst_host, src, bytes, cudaMemcpyDeviceToHost, stream_), "cudaMemcpyAsync(download)");
    check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize(download)");
  }
  void copy(void* dst, const void* src, size_t bytes) override {
    if (bytes == 0 || dst == src) return;
    use();
    const uintptr_t d = reinterpret_cast<uintptr_t>(dst), s = reinterpret_cast<uintptr_t>(src);
    const bool overlap = d < s + bytes && s < d + bytes;
    if (!overlap) {
      check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_), "cudaMemcpyAsync(copy)");
      return;
    }
    // overlapping ranges (memmove semantics): through a temporary block
    void* tmp = pool_.alloc(bytes, stream_);
    try {
      check(cudaMemcpyAsync(tmp, src, bytes, cudaMemcpyDeviceToDevice, stream_), "cudaMemcpyAsync(copy, staging)");
      check(cudaMemcpyAsync(dst, tmp, bytes, cudaMemcpyDeviceToDevice, stream_), "cudaMemcpyAsync(copy)");
    } catch (...) {
      pool_.release(tmp);
      throw;
    }
    pool_.release(tmp);
  }
  void fill(float* x, float value, int64_t n) override {
    if (n <= 0) return;
    use();
    launch_fill(ctx_, x, value, n);
  }
  void synchronize() override {
    use();
    check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  }

  void bn_update_running(float* running_mean, float* running_var, const float* mean, const float* invstd, float eps,
                         float momentum, int64_t M, int C, float* nonfinite) override {
    use();
    launch_bn_update_running(ctx_, running_mean, running_var, mean, invstd, eps, momentum, M, C, nonfinite);
  }

  // ---- input ----
  void normalize_u8(float* x, const uint8_t* src, const float* mean, const float* std, int64_t M, int C) override {
    use();
    launch_normalize_u8(ctx_, x, src, mean, std, M, C);
  }
  void normalize_f32(float* x, const float* src, const float* mean, const float* std, int64_t M, int C) override {
    use();
    launch_normalize_f32(ctx_, x, src, mean, std, M, C);
  }

  // ---- dense convolution (conv_dense.cu) ----
  void conv_forward(float* y, const float* x, const float* w, const ConvShape& s) override {
    use();
    cuda::conv_forward(ctx_, y, nullptr, nullptr, 0.0f, x, nullptr, w, s);
  }
  void conv_backward(float* dx, float* dw, const float* dy, const float* x, const float* w,
                     const ConvShape& s) override {
    use();
    cuda::conv_backward(ctx_, dx, dw, dy, x, w, s);
  }
  void conv_forward_fused(float* y, float* out_mean, float* out_invstd, float eps, const float* x, const BnAct* in_bn,
                          const float* w, const ConvShape& s) override {
    use();
    cuda::conv_forward(ctx_, y, out_mean, out_invstd, eps, x, in_bn, w, s);
  }

  // ---- depthwise convolution ----
  void dwconv_forward(float* y, const float* x, const float* w, const ConvShape& s) override {
    use();
    launch_dwconv_forward(ctx_, y, x, nullptr, w, s);
  }
  void dwconv_backward(float* dx, float* dw, const float* dy, const float* x, const float* w,
                       const ConvShape& s) override {
    use();
    launch_dwconv_backward(ctx_, dx, dw, dy, x, w, s);
  }
  void dwconv_forward_fused(float* y, float* out_mean, float* out_invstd, float eps, const float* x,
                            const BnAct* in_bn, const float* w, const ConvShape& s) override {
    use();
    launch_dwconv_forward(ctx_, y, x, in_bn, w, s);
    if (out_mean) launch_bn_stats(ctx_, out_mean, out_invstd, y, eps, int64_t(s.N) * s.P * s.Q, s.K);
  }
  // conv_backward_fused / dwconv_backward_fused: the base class's composed defaults (see the header).

  // ---- batch norm + activation ----
  void bn_act_forward_train(float* y, float* mean, float* invstd, const float* x, const float* gamma,
                            const float* beta, float eps, Act act, int64_t M, int C) override {
    use();
    launch_bn_act_forward_train(ctx_, y, mean, invstd, x, gamma, beta, eps, act, M, C);
  }
  void bn_act_forward_eval(float* y, const float* x, const float* gamma, const float* beta,
                           const float* running_mean, const float* running_var, float eps, Act act, int64_t M,
                           int C) override {
    use();
    launch_bn_act_forward_eval(ctx_, y, x, gamma, beta, running_mean, running_var, eps, act, M, C);
  }
  void bn_act_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x, const float* mean,
                       const float* invstd, const float* gamma, const float* beta, Act act, int64_t M,
                       int C) override {
    use();
    launch_bn_act_backward(ctx_, dx, dgamma, dbeta, dy, x, mean, invstd, gamma, beta, act, M, C);
  }
  void bn_act_apply(float* y, const float* x, const float* mean, const float* invstd, const float* gamma,
                    const float* beta, Act act, int64_t M, int C) override {
    use();
    launch_bn_act_apply(ctx_, y, x, mean, invstd, gamma, beta, act, M, C);
  }

  // ---- squeeze-excite ----
  void se_forward(float* y, float* pooled, float* hidden, float* gate, const float* x, const float* w1,
                  const float* b1, const float* w2, const float* b2, const SEShape& s) override {
    use();
    launch_se_forward(ctx_, y, pooled, hidden, gate, x, w1, b1, w2, b2, s);
  }
  void se_scale(float* y, const float* x, const float* gate, const SEShape& s) override {
    use();
    launch_se_scale(ctx_, y, x, gate, s);
  }
  void se_backward(float* dx, float* dw1, float* db1, float* dw2, float* db2, const float* dy, const float* x,
                   const float* pooled, const float* hidden, const float* gate, const float* w1, const float* w2,
                   const SEShape& s) override {
    use();
    launch_se_backward(ctx_, dx, dw1, db1, dw2, db2, dy, x, pooled, hidden, gate, w1, w2, s);
  }

  // ---- elementwise, pooling ----
  void add_inplace(float* y, const float* x, int64_t n) override {
    use();
    launch_add_inplace(ctx_, y, x, n);
  }
  void gap_forward(float* y, const float* x, int N, int HW, int C) override {
    use();
    launch_gap_forward(ctx_, y, x, N, HW, C);
  }
  void gap_backward(float* dx, const float* dy, int N, int HW, int C) override {
    use();
    launch_gap_backward(ctx_, dx, dy, N, HW, C);
  }

  // ---- fully connected (fully_connected.cu) ----
  void fc_forward(float* y, const float* x, const float* w, const float* b, int N, int C, int K) override {
    use();
    cuda::fc_forward(ctx_, y, x, w, b, N, C, K);
  }
  void fc_backward(float* dx, float* dw, float* db, const float* dy, const float* x, const float* w, int N, int C,
                   int K) override {
    use();
    cuda::fc_backward(ctx_, dx, dw, db, dy, x, w, N, C, K);
  }

  // ---- loss, optimiser ----
  void softmax_xent(float* loss, uint8_t* correct, float* dlogits, const float* logits, const int32_t* labels,
                    float smoothing, int N, int K) override {
    use();
    launch_softmax_xent(ctx_, loss, correct, dlogits, logits, labels, smoothing, N, K);
  }
  void sgd_update(float* w, float* velocity, const float* g, int64_t n, float lr, float momentum, float weight_decay,
                  bool nesterov, float* nonfinite) override {
    use();
    launch_sgd_update(ctx_, w, velocity, g, n, lr, momentum, weight_decay, nesterov, nonfinite);
  }

 private:
  // The device-current rule (file header).
  void use() const { check(cudaSetDevice(device_), "cudaSetDevice"); }

  int device_;
  cudaStream_t stream_ = nullptr;
  MemoryPool pool_;
  CudaContext ctx_;
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(int device, MathMode math) {
  return std::unique_ptr<Backend>(new CudaBackend(device, math));
}

}  // namespace cuda
}  // namespace gnas
