// The fast CPU backend: the Backend interface on top of one KernelTable (kernels.h), chosen once
// from the CPU's features, and a persistent ThreadPool. Compiled for plain x86-64; everything
// ISA-specific is behind the table's function pointers.
#include "backends/cpu/cpu_backend.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

#include "backends/cpu/kernels.h"

namespace gnas {
namespace cpu {
namespace {

bool cpu_has_avx512() {
  __builtin_cpu_init();
  // libgcc also checks that the OS saves the ZMM state (XCR0) before it reports these
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma");
}
// The bfloat16 dot products (vdpbf16ps) of conv_bf16_avx512bf16.cpp, on top of the AVX-512 table.
bool cpu_has_avx512_bf16() {
  __builtin_cpu_init();
  return cpu_has_avx512() && __builtin_cpu_supports("avx512bf16");
}
bool cpu_has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

const KernelTable* select_kernels() {
  const char* force = std::getenv("GNAS_CPU_ISA");
  const bool a512 = cpu_has_avx512(), a2 = cpu_has_avx2();
  if (force) {
    if (std::strcmp(force, "generic") == 0) return kernels_generic();
    if (std::strcmp(force, "avx2") == 0 && a2) return kernels_avx2();
  }
  if (a512) return kernels_avx512();
  if (a2) return kernels_avx2();
  return kernels_generic();
}

// The size in bytes of cpu0's highest-level cache as Linux's sysfs lists it ("32768K"), or 0. Read
// there rather than from sysconf: on AMD EPYC, glibc reports the whole socket's L3 (256 MB on an
// 8-CCD Milan), while a core only ever uses its own CCX's (32 MB).
int64_t sysfs_last_level_cache_bytes() {
  int64_t best = 0;
  int best_level = 0;
  for (int index = 0; index < 8; ++index) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/";
    int level = 0;
    long long size = 0;
    char unit = 0;
    FILE* f = std::fopen((dir + "level").c_str(), "r");
    if (!f) break;
    const bool has_level = std::fscanf(f, "%d", &level) == 1;
    std::fclose(f);
    f = std::fopen((dir + "size").c_str(), "r");
    if (!f) continue;
    const int got = std::fscanf(f, "%lld%c", &size, &unit);
    std::fclose(f);
    if (!has_level || got < 1 || size <= 0 || level <= best_level) continue;
    best_level = level;
    best = size * (got == 2 && unit == 'K' ? 1024 : got == 2 && unit == 'M' ? 1024 * 1024 : 1);
  }
  return best;
}

// GNAS_CPU_PROFILE=1: wall time per (op, shape), printed to stderr when the backend is destroyed:
// the total, the mean and the fastest call (on a shared machine the fastest is the figure to set
// against an isolated benchmark's best-of; the mean carries every stall of the other tenants).
// One branch per call when off.
class OpProfiler {
 public:
  OpProfiler() : on_(std::getenv("GNAS_CPU_PROFILE") != nullptr) {}
  ~OpProfiler() {
    if (!on_ || stats_.empty()) return;
    std::vector<std::pair<std::string, Stat>> v(stats_.begin(), stats_.end());
    std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second.ms > b.second.ms; });
    double total = 0;
    for (const auto& e : v) total += e.second.ms;
    std::fprintf(stderr, "cpu backend profile: %.1f ms in ops\n%10s %8s %10s %10s  %s\n", total, "total ms", "calls",
                 "ms/call", "min ms", "op");
    for (const auto& e : v)
      std::fprintf(stderr, "%10.2f %8ld %10.4f %10.4f  %s\n", e.second.ms, e.second.calls,
                   e.second.ms / double(e.second.calls), e.second.min_ms, e.first.c_str());
  }
  bool on() const { return on_; }
  void add(const std::string& key, double ms) {
    std::lock_guard<std::mutex> lock(mu_);
    Stat& st = stats_[key];
    st.ms += ms;
    st.min_ms = st.calls == 0 ? ms : std::min(st.min_ms, ms);
    st.calls += 1;
  }

 private:
  struct Stat {
    double ms = 0;
    double min_ms = 0;
    long calls = 0;
  };
  bool on_;
  std::mutex mu_;
  std::map<std::string, Stat> stats_;
};

std::string shape_key(const ConvShape& s) {
  char b[96];
  std::snprintf(b, sizeof b, " N%d %dx%d C%d K%d k%d s%d", s.N, s.H, s.W, s.C, s.K, s.k, s.stride);
  return b;
}
std::string io_key(const BnAct* in_bn, const float* out_mean, Bf16Io io) {
  return std::string(in_bn ? " +in_bn" : "") + (out_mean ? " +stats" : "") + (io.in ? " in:bf16" : "") +
         (io.out ? " out:bf16" : "");
}
std::string mc_key(int64_t M, int C) { return " M" + std::to_string(M) + " C" + std::to_string(C); }

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int threads)
      : pool_(threads), k_(select_kernels()),
        bf16_(std::strcmp(k_->isa, "avx512") == 0 && cpu_has_avx512_bf16()),
        stream_min_bytes_(streamed_output_min_bytes()) {}

  std::string name() const override { return "cpu"; }
  void set_threads(int threads) override { pool_.resize(threads); }
  int threads() const override { return pool_.size(); }

  void normalize_u8(float* x, const uint8_t* src, const float* mean, const float* std, int64_t M, int C) override {
    Ctx c = ctx();
    if (prof_.on()) {
      const auto t0 = std::chrono::steady_clock::now();
      k_->normalize_u8(c, x, src, mean, std, M, C);
      prof_.add(std::string("normalize_u8") + std::string(), std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      return;
    }
    k_->normalize_u8(c, x, src, mean, std, M, C);
  }
  void normalize_f32(float* x, const float* src, const float* mean, const float* std, int64_t M, int C) override {
    Ctx c = ctx();
    if (prof_.on()) {
      const auto t0 = std::chrono::steady_clock::now();
      k_->normalize_f32(c, x, src, mean, std, M, C);
      prof_.add(std::string("normalize_f32") + std::string(), std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      return;
    }
    k_->normalize_f32(c, x, src, mean, std, M, C);
  }
  void conv_forward(float* y, const float* x, const float* w, const ConvShape& s) override {
    conv_forward_fused(y, nullptr, nullptr, 0.0f, x, nullptr, w, s);
  }
  void conv_backward(float* dx, float* dw, const float* dy, const float* x, const float* w,
                     const ConvShape& s) override {
    conv_backward_fused(dx, dw, nullptr, nullptr, dy, nullptr, x, nullptr, w, s);
  }
  void dwconv_forward(float* y, const float* x, const float* w, const ConvShape& s) override {
    dwconv_forward_fused(y, nullptr, nullptr, 0.0f, x, nullptr, w, s);
  }
  void dwconv_backward(float* dx, float* dw, const float* dy, const float* x, const float* w,
                       const ConvShape& s) override {
    dwconv_backward_fused(dx, dw, nullptr, nullptr, dy, nullptr, x, nullptr, w, s);
  }
  void conv_forward_fused(float* y, float* out_mean, float* out_invstd, float eps, const float* x, const BnAct* in_bn,
                          const float* w, const ConvShape& s) override {
    Ctx c = ctx();
    if (prof_.on()) {
      const auto t0 = std::chrono::steady_clock::now();
      k_->conv_forward(c, y, out_mean, out_invstd, eps, x, in_bn, w, s);
      prof_.add(std::string("conv_forward_fused") + shape_key(s) + (in_bn ? " +in_bn" : "") + (out_mean ? " +stats" : ""), std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      return;
    }
    k_->conv_forward(c, y, out_mean, out_invstd, eps, x, in_bn, w, s);
  }
  // Hardware bfloat16 only for 1x1 stride-1 convs on AVX512-BF16 CPUs (under GNAS_CPU_ISA=avx2 or
  // generic too, the table is not AVX-512): everything else takes the emulating default. The
  // bfloat16-stored depthwise forward runs on the same CPUs, for the shapes of the fast kernels.
  bool fast_bf16() const override { return bf16_; }
  void conv_forward_fused_bf16(float* y, float* out_mean, float* out_invstd, float eps, const float* x,
                               const BnAct* in_bn, const float* w, const ConvShape& s, Bf16Io io) override {
    if (!(bf16_ && s.k == 1 && s.stride == 1 && s.pad == 0)) {
      Backend::conv_forward_fused_bf16(y, out_mean, out_invstd, eps, x, in_bn, w, s, io);
      return;
    }
    Ctx c = ctx();
    profiled([&] { return "conv_forward_fused_bf16" + shape_key(s) + io_key(in_bn, out_mean, io); },
             [&] { conv1x1_forward_bf16(c, y, out_mean, out_invstd, eps, x, in_bn, w, s, io); });
  }
  void dwconv_forward_fused_bf16(float* y, float* out_mean, float* out_invstd, float eps, const float* x,
                                 const BnAct* in_bn, const float* w, const ConvShape& s, Bf16Io io) override {
    Ctx c = ctx();
    bool done = false;
    if (bf16_)
      profiled([&] { return "dwconv_forward_fused_bf16" + shape_key(s) + io_key(in_bn, out_mean, io); },
               [&] { done = dwconv_forward_bf16(c, y, out_mean, out_invstd, eps, x, in_bn, w, s, io); });
    if (!done) Backend::dwconv_forward_fused_bf16(y, out_mean, out_invstd, eps, x, in_bn, w, s, io);
  }
  void conv_backward_fused(float* dx, float* dw, float* in_dgamma, float* in_dbeta, const float* dy,
                           const BnGrad* out_bn, const float* x, const BnAct* in_bn, const float* w,
                           const ConvShape& s) override {
    Ctx c = ctx();
    if (prof_.on()) {
      const auto t0 = std::chrono::steady_clock::now();
      k_->conv_backward(c, dx, dw, in_dgamma, in_dbeta, dy, out_bn, x, in_bn, w, s);
      prof_.add(std::string("conv_backward_fused") + shape_key(s) + (in_bn ? " +in_bn" : "") +
                    (in_dgamma ? " +in_bn_grads" : "") + (out_bn ? " +out_bn" : "") + (dx ? "" : " dx=null"),
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      return;
    }
    k_->conv_backward(c, dx, dw, in_dgamma, in_dbeta, dy, out_bn, x, in_bn, w, s);
  }

  void dwconv_forward_fused(float* y, float* out_mean, float* out_invstd, float eps, const float* x,
                            const BnAct* in_bn, const float* w, const ConvShape& s) override {
    Ctx c = ctx();
    if (prof_.on()) {
      const auto t0 = std::chrono::steady_clock::now();
      k_->dwconv_forward(c, y, out_mean, out_invstd, eps, x, in_bn, w, s, nullptr);
      prof_.add(std::string("dwconv_forward_fused") + shape_key(s) + (in_bn ? " +in_bn" : "") + (out_mean ? " +stats" : ""), std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      return;
    }
    k_->dwconv_forward(c, y, out_mean, out_invstd, eps, x, in_bn, w, s, nullptr);
  }
  void dwconv_forward_bn_act(float* y, const float* x, const BnAct* in_bn, const float* w, const BnAct& out_bn,
                             const ConvShape& s) override {
    Ctx c = ctx();
    profiled([&] { return std::string("dwconv_forward_bn_act") + shape_key(s) + (in_bn ? " +in_bn" : ""); },
             [&] { k_->dwconv_forward(c, y, nullptr, nullptr, 0.0f, x, in_bn, w, s, &out_bn); });
  }
  void mbconv_forward_eval(float* out, const float* x, const MbconvEval& b, float* expand_buf,
                           float* dw_buf) override {
    Ctx c = ctx();
    fast_or_default(
        [&] {
          return std::string("mbconv_forward_eval") + shape_key(b.dw) + (b.expand_w ? " +expand" : "") +
                 (b.se_w1 ? " +se" : "") + (b.residual ? " +residual" : "");
        },
        [&] { return k_->mbconv_forward_eval(c, out, x, b); },
        [&] { Backend::mbconv_forward_eval(out, x, b, expand_buf, dw_buf); });
  }
  void head_forward_eval(float* pooled, const float* x, const float* w, const ConvShape& s, const float* gamma,
                         const float* beta, const float* running_mean, const float* running_var, float eps, Act act,
                         float* buf) override {
    Ctx c = ctx();
    fast_or_default([&] { return std::string("head_forward_eval") + shape_key(s); },
                    [&] { return k_->head_forward_eval(c, pooled, x, w, s, gamma, beta, running_mean, running_var, eps,
                                                       int(act)); },
                    [&] { Backend::head_forward_eval(pooled, x, w, s, gamma, beta, running_mean, running_var, eps, act,
                                                     buf); });
  }
  void dwconv_backward_fused(float* dx, float* dw, float* in_dgamma, float* in_dbeta, const float* dy,
                           const BnGrad* out_bn, const float* x, const BnAct* in_bn, const float* w,
                           const ConvShape& s) override {
    Ctx c = ctx();
    if (prof_.on()) {
      const auto t0 = std::chrono::steady_clock::now();
      k_->dwconv_backward(c, dx, dw, in_dgamma, in_dbeta, dy, out_bn, x, in_bn, w, s);
      prof_.add(std::string("dwconv_backward_fused") + shape_key(s) + (in_bn ? " +in_bn" : "") +
                    (in_dgamma ? " +in_bn_grads" : "") + (out_bn ? " +out_bn" : "") + (dx ? "" : " dx=null"),
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      return;
    }
    k_->dwconv_backward(c, dx, dw, in_dgamma, in_dbeta, dy, out_bn, x, in_bn, w, s);
  }

  void bn_act_forward_train(float* y, float* mean, float* invstd, const float* x, const float* gamma,
                            const float* beta, float eps, Act act, int64_t M, int C) override {
    Ctx c = ctx();
    if (prof_.on()) {
      const auto t0 = std::chrono::steady_clock::now();
      k_->bn_act_forward_train(c, y, mean, invstd, x, gamma, beta, eps, int(act), M, C);
      prof_.add(std::string("bn_act_forward_train") + mc_key(M, C), std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      return;
    }
    k_->bn_act_forward_train(c, y, mean, invstd, x, gamma, beta, eps, int(act), M, C);
  }
  void bn_act_forward_eval(float* y, const float* x, const float* gamma, const float* beta,
                           const float* running_mean, const float* running_var, float eps, Act act, int64_t M,
                           int C) override {
    Ctx c = ctx();
    if (prof_.on()) {
      const auto t0 = std::chrono::steady_clock::now();
      k_->bn_act_forward_eval(c, y, x, gamma, beta, running_mean, running_var, eps, int(act), M, C);
      prof_.add(std::string("bn_act_forward_eval") + mc_key(M, C), std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      return;
    }
    k_->bn_act_forward_eval(c, y, x, gamma, beta, running_mean, running_var, eps, int(act), M, C);
  }
  void bn_act_apply(float* y, const float* x, const float* mean, const float* invstd, const float* gamma,
                    const float* beta, Act act, int64_t M, int C) override {
    Ctx c = ctx();
    if (prof_.on()) {
      const auto t0 = std::chrono::steady_clock::now();
      k_->bn_act_apply(c, y, x, mean, invstd, gamma, beta, int(act), M, C);
      prof_.add(std::string("bn_act_apply") + mc_key(M, C), std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      return;
    }
    k_->bn_act_apply(c, y, x, mean, invstd, gamma, beta, int(act), M, C);
  }
  void bn_act_residual_apply(float* y, const float* x, const float* mean, const float* invstd, const float* gamma,
                             const float* beta, Act act, const float* residual, int64_t M, int C,
                             Bf16Io io) override {
    if ((io.in || io.out) && !bf16_) {
      Backend::bn_act_residual_apply(y, x, mean, invstd, gamma, beta, act, residual, M, C, io);
      return;
    }
    Ctx c = ctx();
    profiled([&] { return "bn_act_residual_apply" + mc_key(M, C) + io_key(nullptr, nullptr, io); }, [&] {
      if (io.in || io.out) bn_act_residual_bf16(c, y, x, mean, invstd, gamma, beta, int(act), residual, M, C, io);
      else k_->bn_act_residual_apply(c, y, x, mean, invstd, gamma, beta, int(act), residual, M, C);
    });
  }
  void bn_act_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x, const float* mean,
                       const float* invstd, const float* gamma, const float* beta, Act act, int64_t M,
                       int C) override {
    Ctx c = ctx();
    if (prof_.on()) {
      const auto t0 = std::chrono::steady_clock::now();
      k_->bn_act_backward(c, dx, dgamma, dbeta, dy, x, mean, invstd, gamma, beta, int(act), M, C);
      prof_.add(std::string("bn_act_backward") + mc_key(M, C), std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      return;
    }
    k_->bn_act_backward(c, dx, dgamma, dbeta, dy, x, mean, invstd, gamma, beta, int(act), M, C);
  }
  void se_forward(float* y, float* pooled, float* hidden, float* gate, const float* x, const float* w1,
                  const float* b1, const float* w2, const float* b2, const SEShape& s) override {
    Ctx c = ctx();
    if (prof_.on()) {
      const auto t0 = std::chrono::steady_clock::now();
      k_->se_forward(c, y, pooled, hidden, gate, x, w1, b1, w2, b2, s);
      prof_.add(std::string("se_forward") + mc_key(int64_t(s.N) * s.HW, s.C), std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      return;
    }
    k_->se_forward(c, y, pooled, hidden, gate, x, w1, b1, w2, b2, s);
  }
  void se_scale(float* y, const float* x, const float* gate, const SEShape& s) override {
    Ctx c = ctx();
    profiled([&] { return std::string("se_scale") + mc_key(int64_t(s.N) * s.HW, s.C); },
             [&] { k_->se_scale(c, y, x, gate, s); });
  }
  void se_backward(float* dx, float* dw1, float* db1, float* dw2, float* db2, const float* dy, const float* x,
                   const float* pooled, const float* hidden, const float* gate, const float* w1, const float* w2,
                   const SEShape& s) override {
    Ctx c = ctx();
    if (prof_.on()) {
      const auto t0 = std::chrono::steady_clock::now();
      k_->se_backward(c, dx, dw1, db1, dw2, db2, dy, x, pooled, hidden, gate, w1, w2, s);
      prof_.add(std::string("se_backward") + mc_key(int64_t(s.N) * s.HW, s.C), std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      return;
    }
    k_->se_backward(c, dx, dw1, db1, dw2, db2, dy, x, pooled, hidden, gate, w1, w2, s);
  }
  void add_inplace(float* y, const float* x, int64_t n) override {
    Ctx c = ctx();
    if (prof_.on()) {
      const auto t0 = std::chrono::steady_clock::now();
      k_->add_inplace(c, y, x, n);
      prof_.add(std::string("add_inplace") + " n" + std::to_string(n), std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      return;
    }
    k_->add_inplace(c, y, x, n);
  }
  void gap_forward(float* y, const float* x, int N, int HW, int C) override {
    Ctx c = ctx();
    if (prof_.on()) {
      const auto t0 = std::chrono::steady_clock::now();
      k_->gap_forward(c, y, x, N, HW, C);
      prof_.add(std::string("gap_forward") + mc_key(int64_t(N) * HW, C), std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      return;
    }
    k_->gap_forward(c, y, x, N, HW, C);
  }
  void gap_backward(float* dx, const float* dy, int N, int HW, int C) override {
    Ctx c = ctx();
    if (prof_.on()) {
      const auto t0 = std::chrono::steady_clock::now();
      k_->gap_backward(c, dx, dy, N, HW, C);
      prof_.add(std::string("gap_backward") + mc_key(int64_t(N) * HW, C), std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      return;
    }
    k_->gap_backward(c, dx, dy, N, HW, C);
  }
  void fc_forward(float* y, const float* x, const float* w, const float* b, int N, int C, int K) override {
    Ctx c = ctx();
    if (prof_.on()) {
      const auto t0 = std::chrono::steady_clock::now();
      k_->fc_forward(c, y, x, w, b, N, C, K);
      prof_.add(std::string("fc_forward") + std::string(), std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      return;
    }
    k_->fc_forward(c, y, x, w, b, N, C, K);
  }
  void fc_backward(float* dx, float* dw, float* db, const float* dy, const float* x, const float* w, int N, int C,
                   int K) override {
    Ctx c = ctx();
    if (prof_.on()) {
      const auto t0 = std::chrono::steady_clock::now();
      k_->fc_backward(c, dx, dw, db, dy, x, w, N, C, K);
      prof_.add(std::string("fc_backward") + std::string(), std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      return;
    }
    k_->fc_backward(c, dx, dw, db, dy, x, w, N, C, K);
  }
  void softmax_xent(float* loss, uint8_t* correct, float* dlogits, const float* logits, const int32_t* labels,
                    float smoothing, int N, int K) override {
    Ctx c = ctx();
    if (prof_.on()) {
      const auto t0 = std::chrono::steady_clock::now();
      k_->softmax_xent(c, loss, correct, dlogits, logits, labels, smoothing, N, K);
      prof_.add(std::string("softmax_xent") + std::string(), std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      return;
    }
    k_->softmax_xent(c, loss, correct, dlogits, logits, labels, smoothing, N, K);
  }
  void sgd_update(float* w, float* velocity, const float* g, int64_t n, float lr, float momentum,
                  float weight_decay, bool nesterov, float* nonfinite) override {
    Ctx c = ctx();
    if (prof_.on()) {
      const auto t0 = std::chrono::steady_clock::now();
      k_->sgd_update(c, w, velocity, g, n, lr, momentum, weight_decay, nesterov, nonfinite);
      prof_.add(std::string("sgd_update") + " n" + std::to_string(n), std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      return;
    }
    k_->sgd_update(c, w, velocity, g, n, lr, momentum, weight_decay, nesterov, nonfinite);
  }

  void trim() override { ws_.release_all(); }
  int64_t scratch_bytes() const override { return int64_t(ws_.bytes()); }

 private:
  Ctx ctx() { return Ctx{&pool_, &ws_, pool_.size(), stream_min_bytes_}; }

  OpProfiler prof_;
  // fn(), timed under the name key() when GNAS_CPU_PROFILE is set (the name is built only then).
  template <class KeyFn, class Fn>
  void profiled(KeyFn key, Fn fn) {
    if (!prof_.on()) {
      fn();
      return;
    }
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    prof_.add(key(), std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  // An op whose kernel covers only some shapes (it returns false for the others): the kernel,
  // profiled under key, else the base class's unfused ops (profiled op by op).
  template <class KeyFn, class Fast, class Default>
  void fast_or_default(KeyFn key, Fast fast, Default fallback) {
    bool done = false;
    profiled(key, [&] { done = fast(); });
    if (!done) fallback();
  }
  ThreadPool pool_;
  Workspace ws_;
  const KernelTable* k_;
  bool bf16_;  // conv1x1_forward_bf16 usable (AVX-512 table and avx512bf16)
  int64_t stream_min_bytes_;
};

}  // namespace

std::string selected_isa() { return select_kernels()->isa; }

// Ctx::stream_min_bytes: GNAS_CPU_STREAM_MIN_BYTES when set, else the last-level cache size from
// sysfs, else sysconf's capped at 32 MB, else 32 MB. sysconf reads CPUID, which a hypervisor fills
// as it likes: a Zen 5 VM without sysfs cache entries reports a 508 MB L3, which turned every
// streamed store off (an AMD core's L3 is its CCD's, 32 MB; 96 MB with stacked cache).
int64_t streamed_output_min_bytes() {
  if (const char* env = std::getenv("GNAS_CPU_STREAM_MIN_BYTES")) {
    char* end = nullptr;
    const long long v = std::strtoll(env, &end, 10);
    if (end != env && *end == '\0' && v >= 0) return v;
    throw std::invalid_argument(std::string("GNAS_CPU_STREAM_MIN_BYTES must be a byte count >= 0, got '") + env +
                                "'");
  }
  if (const int64_t b = sysfs_last_level_cache_bytes()) return b;
  const int64_t cap = int64_t(32) << 20;
  for (int name : {_SC_LEVEL3_CACHE_SIZE, _SC_LEVEL2_CACHE_SIZE}) {
    const long v = sysconf(name);
    if (v > 0) return std::min<int64_t>(v, cap);
  }
  return cap;
}

}  // namespace cpu

std::unique_ptr<Backend> make_cpu_backend(int threads) { return std::make_unique<cpu::CpuBackend>(threads); }

}  // namespace gnas
