// gnas_op_bench: times every op of the CPU backend, forward and backward, on the shapes of
// workload W1 (bench/w1.space.json) at batch 128, plain and in the fused forms a train-mode unit
// uses (Backend::conv_forward_fused ... : "+stats" = batch statistics of the output, "+in_bn" =
// input read through the producer's BN+act, "+out_bn" = dy through the unit's own BN,
// "+in_bn_grads" = the input BN's parameter gradients), and prints one JSON line per (op, shape):
//   {"op": ..., "shape": ..., "ms": best-of-reps, "gflops": ..., "pct_peak": ...}   (compute ops)
//   {"op": ..., "shape": ..., "ms": ..., "gbps": ...}                              (memory-bound ops)
// FLOPs are the napkin count (2 per multiply-add: conv forward 2*M*C*K*k*k, backward twice that
// with dx, once without); bytes are the compulsory traffic (each tensor read or written once
// per pass). The first line states the machine, the ISA the backend dispatches to, the threads
// and the limits the rows are read against: the FMA peak of this CPU at those threads, measured
// here by a register-only FMA loop at the widest vector width the backend uses, and the memory
// bandwidth of those threads (stream_gbps, a scale-copy over arrays far beyond the caches).
//
// Usage: gnas_op_bench [--threads N] [--filter SUBSTRING] [--batch N] [--min-ms MS] [--ab VAR=A,B]
// Run by `npm run bench`; the whole table takes ~15-25 s.
// --ab VAR=A,B is for trying a kernel change switched by an environment variable that the kernel
// reads on every call (a temporary switch, not kept): each row then alternates calls with VAR=A
// and VAR=B in one process (A B, B A, ...), and adds "ab": the best and median time of each and
// the median of the per-pair ratios A/B with its interquartile range (> 1: B faster). Pairs a
// fraction of a millisecond apart see the same machine, which separate runs on a shared VM do not.
// (GCC 12 warns about the undefined pass-through operand inside _mm512_reduce_add_ps; harmless.)
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/registry.h"

namespace {

using gnas::Act;
using gnas::Backend;
using gnas::ConvShape;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------- peak
// 12 independent FMA chains per thread, long enough to hide latency on 2 FMA ports.
__attribute__((target("avx512f"))) double fma_loop_512(long iters) {
  __m512 a[12];
  const __m512 b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
  for (int i = 0; i < 12; ++i) a[i] = _mm512_set1_ps(float(i));
  for (long it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) a[i] = _mm512_fmadd_ps(a[i], b, c);
  __m512 s = a[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, a[i]);
  return double(_mm512_reduce_add_ps(s));
}
__attribute__((target("avx2,fma"))) double fma_loop_256(long iters) {
  __m256 a[12];
  const __m256 b = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
  for (int i = 0; i < 12; ++i) a[i] = _mm256_set1_ps(float(i));
  for (long it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) a[i] = _mm256_fmadd_ps(a[i], b, c);
  __m256 s = a[0];
  for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, a[i]);
  float t[8];
  _mm256_storeu_ps(t, s);
  return double(t[0]);
}

// Measured FMA peak in GFLOP/s of `threads` threads at the backend's vector width: one unmeasured
// run to bring the cores to their sustained clock, then the best of five runs of ~30 ms each (a
// run that shares the cores with another process reads low). Runs of ~4 ms read 10-15% low on a
// 2-core Zen 3 (166-198 GFLOP/s against 2 cores x 2 FMA x 8 lanes x 2 x 3.1 GHz = 198), which
// put some GEMM rows above 100% of "peak".
double measure_peak_once(int lanes, int threads, long iters);
double measure_peak(const std::string& isa, int threads) {
  const int lanes = isa == "avx512" ? 16 : isa == "avx2" ? 8 : 4;
  if (lanes == 4) return 0;  // baseline build: no FMA; no meaningful peak to quote
  const long iters = 8000000;  // 96M FMAs per thread: ~30 ms at 2 FMAs per cycle and 3 GHz
  measure_peak_once(lanes, threads, iters);
  double best = 0;
  for (int i = 0; i < 5; ++i) best = std::max(best, measure_peak_once(lanes, threads, iters));
  return best;
}
double measure_peak_once(int lanes, int threads, long iters) {
  std::vector<std::thread> ts;
  std::vector<double> sink(static_cast<size_t>(threads));
  const auto t0 = Clock::now();
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] { sink[size_t(t)] = lanes == 16 ? fma_loop_512(iters) : fma_loop_256(iters); });
  for (auto& t : ts) t.join();
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  return double(iters) * 12 * lanes * 2 * threads / s / 1e9;
}

// Measured memory bandwidth in GB/s of `threads` threads: y = 1.5 * x over 64 MB arrays (far
// beyond any cache), bytes read plus bytes written, each thread on its own contiguous range; the
// best of three runs. With ordinary stores (streaming = false) each line of y is also read for
// ownership, a read these bytes do not count; with non-temporal stores it is not. The better of
// the two is the limit the memory-bound rows ("gbps", "x_memory_limit") are read against. The
// arrays stay allocated, so that a probe next to a row (adjacent_stream_gbps) costs ~20 ms.
double measure_stream_gbps(int threads, bool streaming) {
  const size_t n = size_t(16) << 20;  // floats per array
  static std::vector<float> x(n, 1.0f), y(n, 0.0f);
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    std::vector<std::thread> ts;
    const auto t0 = Clock::now();
    for (int t = 0; t < threads; ++t)
      ts.emplace_back([&, t] {
        // ranges start on a 64-byte boundary (n / threads rounded down to 16 floats)
        const size_t b = (n * size_t(t) / size_t(threads)) & ~size_t(15);
        const size_t e = t + 1 == threads ? n : (n * size_t(t + 1) / size_t(threads)) & ~size_t(15);
        if (!streaming) {
          for (size_t i = b; i < e; ++i) y[i] = 1.5f * x[i];
          return;
        }
        size_t i = b;
        for (; i < e && reinterpret_cast<uintptr_t>(y.data() + i) % 16 != 0; ++i) y[i] = 1.5f * x[i];
        for (; i + 4 <= e; i += 4) _mm_stream_ps(y.data() + i, _mm_mul_ps(_mm_set1_ps(1.5f), _mm_loadu_ps(x.data() + i)));
        for (; i < e; ++i) y[i] = 1.5f * x[i];
        _mm_sfence();
      });
    for (auto& t : ts) t.join();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    best = std::max(best, 2.0 * double(n) * sizeof(float) / s / 1e9);
  }
  if (y[n / 2] != 1.5f) std::fprintf(stderr, "stream check failed\n");
  return best;
}

// ---------------------------------------------------------------- timing
struct Opts {
  int threads = 0;
  int batch = 128;
  double min_ms = 60;  // time spent per case (after one warm-up call); best of the reps
  std::string filter;
  std::string ab_var, ab_a, ab_b;  // --ab VAR=A,B
};
Opts g_opts;
std::string g_ab_json;  // the last row's "ab" member (--ab), appended by the report that follows
double g_peak = 0;
double g_stream = 0;  // GB/s: the better of measure_stream_gbps' two forms
int g_threads = 1;

// The bandwidth right before and right after a memory-bound row (the better of the two forms,
// the higher of the two probes): on a shared VM the bandwidth drifts by up to 2x within minutes,
// so the limit measured at the start alone can make the same kernel read 1.2x or 2.5x its limit.
double g_adjacent_stream = 0;
template <class F>
double best_ms_adjacent(F&& f) {
  auto probe = [] { return std::max(measure_stream_gbps(g_threads, false), measure_stream_gbps(g_threads, true)); };
  const double before = probe();
  const double ms = best_ms(f);
  g_adjacent_stream = std::max(before, probe());
  return ms;
}

// --ab: calls alternating VAR=A and VAR=B (A B, B A, ...), at least 20 pairs and min_ms each way;
// returns A's best time and leaves the comparison in g_ab_json.
template <class F>
double ab_ms(F&& f) {
  std::vector<double> t[2], ratio;
  for (int k = 0; k < 2; ++k) {  // a warm-up call each way
    setenv(g_opts.ab_var.c_str(), k ? g_opts.ab_b.c_str() : g_opts.ab_a.c_str(), 1);
    f();
  }
  double total = 0;
  for (int pair = 0; (total < 2 * g_opts.min_ms || pair < 20) && pair < 400; ++pair) {
    double ms[2];
    for (int k = 0; k < 2; ++k) {
      const int side = pair % 2 ? 1 - k : k;
      setenv(g_opts.ab_var.c_str(), side ? g_opts.ab_b.c_str() : g_opts.ab_a.c_str(), 1);
      const auto t0 = Clock::now();
      f();
      ms[side] = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      t[side].push_back(ms[side]);
      total += ms[side];
    }
    ratio.push_back(ms[0] / ms[1]);
  }
  unsetenv(g_opts.ab_var.c_str());
  for (auto& v : t) std::sort(v.begin(), v.end());
  std::sort(ratio.begin(), ratio.end());
  const size_t n = ratio.size();
  char b[512];
  std::snprintf(b, sizeof b,
                ", \"ab\": {\"var\": \"%s\", \"a\": \"%s\", \"b\": \"%s\", \"pairs\": %zu, \"a_best_ms\": %.4f, "
                "\"b_best_ms\": %.4f, \"a_median_ms\": %.4f, \"b_median_ms\": %.4f, \"a_over_b\": %.3f, "
                "\"a_over_b_iqr\": [%.3f, %.3f]}",
                g_opts.ab_var.c_str(), g_opts.ab_a.c_str(), g_opts.ab_b.c_str(), n, t[0][0], t[1][0], t[0][n / 2],
                t[1][n / 2], ratio[n / 2], ratio[n / 4], ratio[(3 * n) / 4]);
  g_ab_json = b;
  return t[0][0];
}

template <class F>
double best_ms(F&& f) {
  if (!g_opts.ab_var.empty()) return ab_ms(f);
  f();  // warm-up: workspace growth, page faults, caches
  double best = 1e30, total = 0;
  int reps = 0;
  while ((total < g_opts.min_ms || reps < 5) && reps < 200) {
    const auto t0 = Clock::now();
    f();
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    best = std::min(best, ms);
    total += ms;
    ++reps;
  }
  return best;
}

bool selected(const std::string& op, const std::string& shape) {
  return g_opts.filter.empty() || (op + " " + shape).find(g_opts.filter) != std::string::npos;
}

// A compute-op row. With bytes >= 0 it is also read against the memory limit: `bytes` is the op's
// compulsory traffic, x_memory_limit its time over bytes / g_stream (1.0 = at the measured bandwidth);
// rows timed by best_ms_adjacent also give x_memory_limit_adjacent, the same against the bandwidth
// probed right around the row.
void report_flops(const std::string& op, const std::string& shape, double ms, double flops, double bytes = -1) {
  const double gf = flops / (ms * 1e6);
  std::printf("{\"op\": \"%s\", \"shape\": \"%s\", \"ms\": %.4f, \"gflops\": %.1f", op.c_str(), shape.c_str(), ms, gf);
  if (g_peak > 0) std::printf(", \"pct_peak\": %.1f", 100.0 * gf / g_peak);
  if (bytes >= 0)
    std::printf(", \"mbytes\": %.1f, \"x_memory_limit\": %.2f", bytes / 1e6,
                g_stream > 0 ? ms / (bytes / (g_stream * 1e6)) : 0.0);
  if (bytes >= 0 && g_adjacent_stream > 0)
    std::printf(", \"adjacent_stream_gbps\": %.1f, \"x_memory_limit_adjacent\": %.2f", g_adjacent_stream,
                ms / (bytes / (g_adjacent_stream * 1e6)));
  g_adjacent_stream = 0;
  std::printf("%s}\n", g_ab_json.c_str());
  g_ab_json.clear();
  std::fflush(stdout);
}
void report_bytes(const std::string& op, const std::string& shape, double ms, double bytes) {
  std::printf("{\"op\": \"%s\", \"shape\": \"%s\", \"ms\": %.4f, \"gbps\": %.1f%s}\n", op.c_str(), shape.c_str(), ms,
              bytes / (ms * 1e6), g_ab_json.c_str());
  g_ab_json.clear();
  std::fflush(stdout);
}

// Inputs: a fast xorshift generator (sums of uniforms, roughly normal); the values only need to
// be ordinary floats, and std::normal_distribution over tens of millions of values would take
// longer than the timing itself.
std::vector<float> randvec(size_t n, float scale = 1.0f, float offset = 0.0f) {
  static uint64_t st = 0x9e3779b97f4a7c15ull;
  std::vector<float> v(n);
  for (auto& e : v) {
    st ^= st << 13;
    st ^= st >> 7;
    st ^= st << 17;
    const float a = float(st & 0xffffff) / 16777216.0f, b = float((st >> 24) & 0xffffff) / 16777216.0f;
    e = offset + scale * 2.45f * (a + b - 1.0f);
  }
  return v;
}

std::string conv_name(const ConvShape& s) {
  char b[128];
  std::snprintf(b, sizeof b, "N%d %dx%d C%d K%d k%d s%d", s.N, s.H, s.W, s.C, s.K, s.k, s.stride);
  return b;
}

// BN statistics and parameters of a fused input (the producer's saved conv output is "x"), and
// of the unit's own BN for a fused backward (its saved input y and parameter gradients).
struct BnInput {
  std::vector<float> mean, invstd, gamma, beta;
  gnas::BnAct bn;
  explicit BnInput(int C) : mean(randvec(size_t(C), 0.1f)), invstd(randvec(size_t(C), 0.1f, 1.0f)),
                            gamma(randvec(size_t(C), 0.2f, 1.0f)), beta(randvec(size_t(C), 0.2f)) {
    bn.mean = mean.data(); bn.invstd = invstd.data(); bn.gamma = gamma.data(); bn.beta = beta.data();
    bn.act = Act::ReLU6;
  }
};
struct BnOutput {
  BnInput p;
  std::vector<float> y, dgamma, dbeta;
  gnas::BnGrad g;
  BnOutput(int K, size_t ysize) : p(K), y(randvec(ysize)), dgamma(randvec(size_t(K), 0.1f)), dbeta(randvec(size_t(K), 0.1f)) {
    g.x = y.data(); g.mean = p.bn.mean; g.invstd = p.bn.invstd; g.gamma = p.bn.gamma; g.beta = p.bn.beta;
    g.act = Act::ReLU6; g.dgamma = dgamma.data(); g.dbeta = dbeta.data();
  }
};

// x as a bfloat16-stored input (the scoring ops' Bf16Io::in): its values truncated to bfloat16,
// packed two to a float slot.
std::vector<float> bf16_copy(const std::vector<float>& x) {
  std::vector<float> out((x.size() + 1) / 2);
  uint16_t* h = reinterpret_cast<uint16_t*>(out.data());
  for (size_t i = 0; i < x.size(); ++i) {
    uint32_t u;
    std::memcpy(&u, &x[i], sizeof u);
    h[i] = uint16_t(u >> 16);
  }
  return out;
}

// ---------------------------------------------------------------- cases
// One conv shape: the plain ops, and (fused = true) the fused variants a train-mode unit uses:
// forward with the output statistics, reading its input through the producer's BN+act when
// in_bn, and the matching backward.
// out16: the bfloat16 scoring row stores its output in bfloat16 (false: the head's conv, whose
// output goes to the pooling in float)
void bench_conv(Backend& be, int H, int C, int K, int k, int stride, bool need_dx = true, bool depthwise = false,
                bool fused = false, bool in_bn = false, bool out16 = true) {
  ConvShape s;
  s.N = g_opts.batch; s.H = H; s.W = H; s.C = C; s.K = depthwise ? C : K; s.k = k; s.stride = stride; s.pad = k / 2;
  s.finish();
  const std::string shape = conv_name(s);
  const double macs = double(s.N) * s.P * s.Q * double(s.K) * (depthwise ? 1 : C) * k * k;
  const std::string pre = depthwise ? "dwconv" : "conv";
  const std::string fname = std::string(in_bn ? " +in_bn" : "") + " +stats";
  const bool f = selected(pre + "_forward", shape), b = selected(pre + "_backward", shape);
  const bool ff = fused && selected(pre + "_forward_fused" + fname, shape);
  const bool bf = fused && selected(pre + "_backward_fused", shape);
  if (!f && !b && !ff && !bf) return;
  const size_t wsize = depthwise ? size_t(k) * k * C : size_t(K) * k * k * C;
  auto x = randvec(size_t(s.in_size())), w = randvec(wsize, 0.1f), dy = randvec(size_t(s.out_size()));
  std::vector<float> y(size_t(s.out_size())), dx(size_t(s.in_size())), dw(w.size()), mean(size_t(s.K)),
      invstd(size_t(s.K));
  BnInput bi(C);
  const gnas::BnAct* ib = in_bn ? &bi.bn : nullptr;
  const std::vector<float> x16 = bf16_copy(x);
  // the fused backward of a train-mode unit: dy through the unit's own BN (out_bn), and the
  // input BN's parameter gradients from dx when the input is pre-BN
  BnOutput bo(s.K, size_t(s.out_size()));
  std::vector<float> idg(static_cast<size_t>(C)), idb(static_cast<size_t>(C));
  float* idgp = in_bn && need_dx ? idg.data() : nullptr;
  float* idbp = in_bn && need_dx ? idb.data() : nullptr;
  const std::string bfname = std::string(" +out_bn") + (in_bn ? " +in_bn" : "") + (idgp ? " +in_bn_grads" : "");
  float* dxp = need_dx ? dx.data() : nullptr;
  const double bflops = (need_dx ? 4 : 2) * macs;
  const std::string bname = need_dx ? "_backward" : "_backward(dx=null)";
  if (depthwise) {
    if (f) report_flops("dwconv_forward", shape, best_ms([&] { be.dwconv_forward(y.data(), x.data(), w.data(), s); }), 2 * macs);
    if (b) report_flops("dwconv" + bname, shape, best_ms([&] { be.dwconv_backward(dxp, dw.data(), dy.data(), x.data(), w.data(), s); }), bflops);
    if (ff)
      report_flops("dwconv_forward_fused" + fname, shape, best_ms([&] {
                     be.dwconv_forward_fused(y.data(), mean.data(), invstd.data(), 1e-5f, x.data(), ib, w.data(), s);
                   }), 2 * macs);
    // the greedy round's scoring form: bfloat16 products, input and output stored in bfloat16
    if (ff && be.fast_bf16())
      report_flops("dwconv_forward_fused_bf16" + fname + " in:bf16 out:bf16", shape, best_ms([&] {
                     be.dwconv_forward_fused_bf16(y.data(), mean.data(), invstd.data(), 1e-5f, x16.data(), ib, w.data(),
                                                  s, gnas::Bf16Io{true, true});
                   }), 2 * macs);
    // compulsory traffic: x read, dx written, dy and the unit's saved conv output (out_bn) read
    const double bbytes = 4.0 * (double(s.in_size()) * (need_dx ? 2 : 1) + 2.0 * double(s.out_size()));
    if (bf)
      report_flops("dwconv_backward_fused" + bfname, shape, best_ms_adjacent([&] {
                               be.dwconv_backward_fused(dxp, dw.data(), idgp, idbp, dy.data(), &bo.g, x.data(), ib,
                                                        w.data(), s);
                             }), bflops, bbytes);
  } else {
    if (f) report_flops("conv_forward", shape, best_ms([&] { be.conv_forward(y.data(), x.data(), w.data(), s); }), 2 * macs);
    if (b) report_flops("conv" + bname, shape, best_ms([&] { be.conv_backward(dxp, dw.data(), dy.data(), x.data(), w.data(), s); }), bflops);
    if (ff)
      report_flops("conv_forward_fused" + fname, shape, best_ms([&] {
                     be.conv_forward_fused(y.data(), mean.data(), invstd.data(), 1e-5f, x.data(), ib, w.data(), s);
                   }), 2 * macs);
    // the bfloat16 scoring form, where the backend has it in hardware (1x1 stride-1 convs)
    if (ff && be.fast_bf16() && s.k == 1 && s.stride == 1)
      report_flops("conv_forward_fused_bf16" + fname, shape, best_ms([&] {
                     be.conv_forward_fused_bf16(y.data(), mean.data(), invstd.data(), 1e-5f, x.data(), ib, w.data(), s);
                   }), 2 * macs);
    // ... and as the greedy round stores it: input in bfloat16, and the output too (an expand
    // conv's for the depthwise conv after it, a project conv's for the block output made in place
    // over it) except the head's conv's, which goes to the pooling in float (out16)
    if (ff && be.fast_bf16() && s.k == 1 && s.stride == 1) {
      const gnas::Bf16Io io{true, out16};
      report_flops("conv_forward_fused_bf16" + fname + (out16 ? " in:bf16 out:bf16" : " in:bf16"), shape,
                   best_ms([&] {
                     be.conv_forward_fused_bf16(y.data(), mean.data(), invstd.data(), 1e-5f, x16.data(), ib, w.data(),
                                                s, io);
                   }), 2 * macs);
    }
    if (bf)
      report_flops("conv_backward_fused" + bfname, shape, best_ms([&] {
                     be.conv_backward_fused(dxp, dw.data(), idgp, idbp, dy.data(), &bo.g, x.data(), ib, w.data(), s);
                   }), bflops);
  }
}

void bench_dwconv(Backend& be, int H, int C, int k, int stride, bool fused = true) {
  bench_conv(be, H, C, C, k, stride, true, true, fused, true);
}

// An eval-mode MBConv block (running BN) in one call (mbconv_forward_eval) and as the unfused ops
// it replaces (the Backend default: expand conv, depthwise with its BN, project conv, BN +
// residual), on the same inputs; FLOPs of the three convs.
void bench_mbconv_eval(Backend& be, int H, int Cin, int Ce, int Ko, int k, int stride, bool se = false) {
  Backend::MbconvEval b;
  b.expand.N = g_opts.batch; b.expand.H = b.expand.W = H; b.expand.C = Cin; b.expand.K = Ce; b.expand.finish();
  b.dw.N = g_opts.batch; b.dw.H = b.dw.W = H; b.dw.C = b.dw.K = Ce; b.dw.k = k; b.dw.stride = stride; b.dw.pad = k / 2;
  b.dw.finish();
  b.project.N = g_opts.batch; b.project.H = b.dw.P; b.project.W = b.dw.Q; b.project.C = Ce; b.project.K = Ko;
  b.project.finish();
  char shape[128];
  std::snprintf(shape, sizeof shape, "N%d %dx%d C%d E%d K%d k%d s%d%s", g_opts.batch, H, H, Cin, Ce, Ko, k, stride,
                se ? " +se" : "");
  const bool fused = selected("mbconv_forward_eval", shape), unfused = selected("mbconv_forward_eval(unfused ops)", shape);
  if (!fused && !unfused) return;
  const bool residual = stride == 1 && Cin == Ko;
  auto x = randvec(size_t(b.expand.in_size())), we = randvec(size_t(Ce) * Cin, 0.1f),
       wd = randvec(size_t(k) * k * Ce, 0.1f), wp = randvec(size_t(Ko) * Ce, 0.1f);
  BnInput be_(Ce), bd(Ce), bp(Ko);
  std::vector<float> out(size_t(b.project.out_size())), ebuf(size_t(b.expand.out_size())), dbuf(size_t(b.dw.out_size()));
  b.expand_w = we.data(); b.expand_bn = be_.bn; b.dw_w = wd.data(); b.dw_bn = bd.bn; b.project_w = wp.data();
  b.project_bn = bp.bn; b.residual = residual ? x.data() : nullptr;
  // squeeze-excite as the spaces size it: R = a quarter of the expanded channels
  const int R = Ce / 4;
  auto w1 = randvec(size_t(R) * Ce, 0.1f), b1 = randvec(size_t(R), 0.1f), w2 = randvec(size_t(Ce) * R, 0.1f),
       b2 = randvec(size_t(Ce), 0.1f);
  std::vector<float> se_out(size_t(g_opts.batch) * (2 * Ce + R));
  if (se) {
    b.se_w1 = w1.data(); b.se_b1 = b1.data(); b.se_w2 = w2.data(); b.se_b2 = b2.data();
    b.se = gnas::SEShape{g_opts.batch, b.dw.P * b.dw.Q, Ce, R};
    b.se_pooled = se_out.data(); b.se_hidden = b.se_pooled + size_t(g_opts.batch) * Ce;
    b.se_gate = b.se_hidden + size_t(g_opts.batch) * R;
  }
  const double se_macs = se ? 2.0 * Ce * R : 0.0;  // per image
  const double flops =
      2.0 * g_opts.batch * (double(H) * H * Cin * Ce + double(b.dw.P) * b.dw.Q * Ce * (k * k + Ko) + se_macs);
  if (fused)
    report_flops("mbconv_forward_eval", shape, best_ms([&] {
                   be.mbconv_forward_eval(out.data(), x.data(), b, ebuf.data(), dbuf.data());
                 }), flops);
  if (unfused)
    report_flops("mbconv_forward_eval(unfused ops)", shape, best_ms([&] {
                   be.Backend::mbconv_forward_eval(out.data(), x.data(), b, ebuf.data(), dbuf.data());
                 }), flops);
}

// The eval-mode head (1x1 conv, running BN + act, global average pool) in one call
// (head_forward_eval) and as the unfused ops, on the same inputs; FLOPs of the conv.
void bench_head_eval(Backend& be, int H, int C, int K) {
  ConvShape s;
  s.N = g_opts.batch; s.H = s.W = H; s.C = C; s.K = K; s.finish();
  const std::string shape = conv_name(s);
  const bool fused = selected("head_forward_eval", shape), unfused = selected("head_forward_eval(unfused ops)", shape);
  if (!fused && !unfused) return;
  auto x = randvec(size_t(s.in_size())), w = randvec(size_t(K) * C, 0.1f);
  auto gamma = randvec(size_t(K), 0.2f, 1.0f), beta = randvec(size_t(K), 0.2f), mean = randvec(size_t(K), 0.1f),
       var = randvec(size_t(K), 0.1f, 1.0f);
  std::vector<float> pooled(size_t(s.N) * K), buf(size_t(s.out_size()));
  const double flops = 2.0 * double(s.N) * H * H * C * K;
  auto run = [&](bool one_call) {
    if (one_call)
      be.head_forward_eval(pooled.data(), x.data(), w.data(), s, gamma.data(), beta.data(), mean.data(), var.data(),
                           1e-5f, Act::ReLU6, buf.data());
    else
      be.Backend::head_forward_eval(pooled.data(), x.data(), w.data(), s, gamma.data(), beta.data(), mean.data(),
                                    var.data(), 1e-5f, Act::ReLU6, buf.data());
  };
  if (fused) report_flops("head_forward_eval", shape, best_ms([&] { run(true); }), flops);
  if (unfused) report_flops("head_forward_eval(unfused ops)", shape, best_ms([&] { run(false); }), flops);
}

void bench_bn(Backend& be, int H, int C, Act act) {
  const int64_t M = int64_t(g_opts.batch) * H * H;
  char shape[96];
  std::snprintf(shape, sizeof shape, "M%lld (N%d %dx%d) C%d act%d", (long long)M, g_opts.batch, H, H, C, int(act));
  auto x = randvec(size_t(M * C), 1.0f, 0.3f), dy = randvec(size_t(M * C));
  auto gamma = randvec(size_t(C), 0.2f, 1.0f), beta = randvec(size_t(C), 0.2f);
  std::vector<float> y(size_t(M * C)), dx(size_t(M * C)), mean(static_cast<size_t>(C)), invstd(static_cast<size_t>(C)), dg(static_cast<size_t>(C)),
      db(static_cast<size_t>(C));
  const double t = double(M) * C * 4;  // one pass over one tensor
  be.bn_act_forward_train(y.data(), mean.data(), invstd.data(), x.data(), gamma.data(), beta.data(), 1e-5f, act, M, C);
  if (selected("bn_act_forward_train", shape))
    report_bytes("bn_act_forward_train", shape, best_ms([&] {
                   be.bn_act_forward_train(y.data(), mean.data(), invstd.data(), x.data(), gamma.data(), beta.data(),
                                           1e-5f, act, M, C);
                 }), 3 * t);
  if (selected("bn_act_forward_eval", shape))
    report_bytes("bn_act_forward_eval", shape, best_ms([&] {
                   be.bn_act_forward_eval(y.data(), x.data(), gamma.data(), beta.data(), mean.data(), invstd.data(),
                                          1e-5f, act, M, C);
                 }), 2 * t);
  if (selected("bn_act_apply", shape))
    report_bytes("bn_act_apply", shape, best_ms([&] {
                   be.bn_act_apply(y.data(), x.data(), mean.data(), invstd.data(), gamma.data(), beta.data(), act, M, C);
                 }), 2 * t);
  if (selected("bn_act_backward", shape))
    report_bytes("bn_act_backward", shape, best_ms([&] {
                   be.bn_act_backward(dx.data(), dg.data(), db.data(), dy.data(), x.data(), mean.data(), invstd.data(),
                                      gamma.data(), beta.data(), act, M, C);
                 }), 5 * t);
}

void bench_se(Backend& be, int H, int C) {
  gnas::SEShape s{g_opts.batch, H * H, C, C / 4};
  char shape[96];
  std::snprintf(shape, sizeof shape, "N%d HW%d C%d R%d", s.N, s.HW, s.C, s.R);
  const bool f = selected("se_forward", shape), b = selected("se_backward", shape);
  if (!f && !b) return;
  const size_t xs = size_t(s.N) * s.HW * s.C;
  auto x = randvec(xs), dy = randvec(xs), w1 = randvec(size_t(s.R) * C, 0.1f), b1 = randvec(size_t(s.R), 0.1f),
       w2 = randvec(size_t(C) * s.R, 0.1f), b2 = randvec(size_t(C), 0.1f);
  std::vector<float> y(xs), dx(xs), pooled(size_t(s.N) * C), hidden(size_t(s.N) * s.R), gate(size_t(s.N) * C),
      dw1(w1.size()), db1(b1.size()), dw2(w2.size()), db2(b2.size());
  be.se_forward(y.data(), pooled.data(), hidden.data(), gate.data(), x.data(), w1.data(), b1.data(), w2.data(), b2.data(), s);
  if (f)
    report_bytes("se_forward", shape, best_ms([&] {
                   be.se_forward(y.data(), pooled.data(), hidden.data(), gate.data(), x.data(), w1.data(), b1.data(),
                                 w2.data(), b2.data(), s);
                 }), 3.0 * xs * 4);
  if (b)
    report_bytes("se_backward", shape, best_ms([&] {
                   be.se_backward(dx.data(), dw1.data(), db1.data(), dw2.data(), db2.data(), dy.data(), x.data(),
                                  pooled.data(), hidden.data(), gate.data(), w1.data(), w2.data(), s);
                 }), 5.0 * xs * 4);
}

void bench_small(Backend& be) {
  const int N = g_opts.batch;
  {  // input
    const int64_t M = int64_t(N) * 28 * 28;
    std::vector<uint8_t> src(static_cast<size_t>(M));
    for (size_t i = 0; i < src.size(); ++i) src[i] = uint8_t(i * 37);
    std::vector<float> x(static_cast<size_t>(M)), mean{0.286f}, sd{0.353f};
    const std::string shape = "M" + std::to_string(M) + " C1";
    if (selected("normalize_u8", shape))
      report_bytes("normalize_u8", shape, best_ms([&] { be.normalize_u8(x.data(), src.data(), mean.data(), sd.data(), M, 1); }),
                   5.0 * M);
  }
  {  // residual add of a 14x14x24 block output
    const int64_t n = int64_t(N) * 14 * 14 * 144;
    auto y = randvec(static_cast<size_t>(n)), x = randvec(static_cast<size_t>(n));
    const std::string shape = "n" + std::to_string(n);
    if (selected("add_inplace", shape))
      report_bytes("add_inplace", shape, best_ms([&] { be.add_inplace(y.data(), x.data(), n); }), 12.0 * n);
  }
  {  // a block's output in one pass: BN + act + residual (the bfloat16 scoring forward stores the
     // residual, the project conv's output and the block output in bfloat16)
    const int64_t M = int64_t(N) * 7 * 7;
    const int C = 128;
    auto x = randvec(size_t(M) * C), r = randvec(size_t(M) * C), gamma = randvec(size_t(C)), beta = randvec(size_t(C));
    std::vector<float> y(x.size()), mean(size_t(C), 0.1f), invstd(size_t(C), 1.3f);
    const std::vector<float> r16 = bf16_copy(r), x16 = bf16_copy(x);
    const std::string shape = "M" + std::to_string(M) + " C" + std::to_string(C);
    if (selected("bn_act_residual_apply", shape)) {
      report_bytes("bn_act_residual_apply", shape, best_ms([&] {
                     be.bn_act_residual_apply(y.data(), x.data(), mean.data(), invstd.data(), gamma.data(),
                                              beta.data(), gnas::Act::ReLU6, r.data(), M, C, gnas::Bf16Io{});
                   }), 12.0 * double(M) * C);
      if (be.fast_bf16())
        report_bytes("bn_act_residual_apply in:bf16 out:bf16", shape, best_ms([&] {
                       be.bn_act_residual_apply(y.data(), x16.data(), mean.data(), invstd.data(), gamma.data(),
                                                beta.data(), gnas::Act::ReLU6, r16.data(), M, C,
                                                gnas::Bf16Io{true, true});
                     }), 6.0 * double(M) * C);
    }
  }
  {  // head: GAP over 7x7x256, fc 256 -> 10, loss
    const int HW = 49, C = 256, K = 10;
    auto x = randvec(size_t(N) * HW * C), dy = randvec(size_t(N) * C);
    std::vector<float> y(size_t(N) * C), dx(x.size());
    const std::string shape = "N" + std::to_string(N) + " HW49 C256";
    if (selected("gap_forward", shape))
      report_bytes("gap_forward", shape, best_ms([&] { be.gap_forward(y.data(), x.data(), N, HW, C); }), 4.0 * x.size());
    if (selected("gap_backward", shape))
      report_bytes("gap_backward", shape, best_ms([&] { be.gap_backward(dx.data(), dy.data(), N, HW, C); }), 4.0 * x.size());
    auto w = randvec(size_t(K) * C, 0.1f), b = randvec(static_cast<size_t>(K)), dl = randvec(size_t(N) * K);
    std::vector<float> lg(size_t(N) * K), dp(size_t(N) * C), dw(w.size()), db(static_cast<size_t>(K));
    const std::string fs = "N" + std::to_string(N) + " C256 K10";
    if (selected("fc_forward", fs))
      report_flops("fc_forward", fs, best_ms([&] { be.fc_forward(lg.data(), y.data(), w.data(), b.data(), N, C, K); }),
                   2.0 * N * C * K);
    if (selected("fc_backward", fs))
      report_flops("fc_backward", fs, best_ms([&] {
                     be.fc_backward(dp.data(), dw.data(), db.data(), dl.data(), y.data(), w.data(), N, C, K);
                   }), 4.0 * N * C * K);
    std::vector<int32_t> labels(static_cast<size_t>(N));
    for (int n = 0; n < N; ++n) labels[size_t(n)] = n % K;
    std::vector<float> loss(static_cast<size_t>(N)), dlog(size_t(N) * K);
    std::vector<uint8_t> correct(static_cast<size_t>(N));
    const std::string ss = "N" + std::to_string(N) + " K10";
    if (selected("softmax_xent", ss))
      report_bytes("softmax_xent", ss, best_ms([&] {
                     be.softmax_xent(loss.data(), correct.data(), dlog.data(), lg.data(), labels.data(), 0.1f, N, K);
                   }), 8.0 * N * K);
  }
  {  // optimiser step over a path-sized parameter set (~1M floats)
    const int64_t n = 1 << 20;
    auto w = randvec(static_cast<size_t>(n)), v = randvec(static_cast<size_t>(n)), g = randvec(static_cast<size_t>(n));
    const std::string shape = "n" + std::to_string(n);
    if (selected("sgd_update", shape))
      report_bytes("sgd_update", shape, best_ms([&] {
                     be.sgd_update(w.data(), v.data(), g.data(), n, 0.01f, 0.9f, 4e-5f, true, nullptr);
                   }), 20.0 * n);
  }
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "missing value for %s\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--threads") g_opts.threads = std::atoi(next());
    else if (a == "--filter") g_opts.filter = next();
    else if (a == "--batch") g_opts.batch = std::atoi(next());
    else if (a == "--min-ms") g_opts.min_ms = std::atof(next());
    else if (a == "--ab") {
      const std::string v = next();
      const size_t eq = v.find('='), comma = v.find(',', eq == std::string::npos ? 0 : eq);
      if (eq == std::string::npos || eq == 0 || comma == std::string::npos ||
          v.find_first_of("\"\\") != std::string::npos) {  // (the row's JSON echoes VAR, A and B)
        std::fprintf(stderr, "--ab wants VAR=A,B (an environment variable and its two values), got '%s'\n", v.c_str());
        return 2;
      }
      g_opts.ab_var = v.substr(0, eq);
      g_opts.ab_a = v.substr(eq + 1, comma - eq - 1);
      g_opts.ab_b = v.substr(comma + 1);
    } else {
      std::fprintf(stderr, "usage: %s [--threads N] [--filter SUBSTRING] [--batch N] [--min-ms MS] [--ab VAR=A,B]\n",
                   argv[0]);
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }
  auto be = gnas::make_backend("cpu", g_opts.threads);
  g_threads = be->threads();
  const std::string isa = gnas::cpu::selected_isa();
  g_peak = measure_peak(isa, be->threads());
  const double stream = measure_stream_gbps(be->threads(), false);
  const double stream_nt = measure_stream_gbps(be->threads(), true);
  g_stream = std::max(stream, stream_nt);
  std::printf("{\"bench\": \"gnas_op_bench\", \"backend\": \"%s\", \"isa\": \"%s\", \"threads\": %d, \"batch\": %d, "
              "\"peak_gflops\": %.1f, \"peak_note\": \"measured FMA peak of %d thread(s) at the %s vector width\", "
              "\"stream_gbps\": %.1f, \"stream_nt_gbps\": %.1f, \"stream_note\": \"measured memory bandwidth of %d "
              "thread(s), bytes read + written, with ordinary and with non-temporal stores; x_memory_limit uses the "
              "better\", \"stream_min_bytes\": %lld, \"stream_min_note\": \"outputs of ops whose operands exceed "
              "this are streamed past the caches (last-level cache size, or GNAS_CPU_STREAM_MIN_BYTES)\"}\n",
              be->name().c_str(), isa.c_str(), be->threads(), g_opts.batch, g_peak, be->threads(), isa.c_str(), stream,
              stream_nt, be->threads(), static_cast<long long>(gnas::cpu::streamed_output_min_bytes()));
  std::fflush(stdout);

  // stem and fixed first block (28x28)
  bench_conv(*be, 28, 1, 16, 3, 1, false, false, true, false);
  // the ImageNet spaces' stem (3 -> 32, stride 2), at 112 px input
  bench_conv(*be, 112, 3, 32, 3, 2, false, false, true, false);
  bench_dwconv(*be, 28, 16, 3, 1);
  bench_conv(*be, 28, 16, 16, 1, 1, true, false, true, true);
  // searchable layers: expand (plain input, +stats) / project (input through the dw BN, +stats)
  bench_conv(*be, 28, 16, 96, 1, 1, true, false, true, false);   // layer 1 expand (e6)
  bench_conv(*be, 14, 96, 24, 1, 1, true, false, true, true);    // layer 1 project
  bench_conv(*be, 14, 24, 144, 1, 1, true, false, true, false);  // layer 2 expand
  bench_conv(*be, 14, 144, 24, 1, 1, true, false, true, true);   // layer 2 project
  bench_conv(*be, 7, 144, 40, 1, 1, true, false, true, true);    // layer 3 project
  bench_conv(*be, 7, 40, 240, 1, 1, true, false, true, false);   // layers 4-6
  bench_conv(*be, 7, 240, 40, 1, 1, true, false, true, true);
  bench_conv(*be, 7, 80, 480, 1, 1, true, false, true, false);   // layers 7-9
  bench_conv(*be, 7, 480, 80, 1, 1, true, false, true, true);
  bench_conv(*be, 7, 96, 576, 1, 1, true, false, true, false);   // layers 10-11
  bench_conv(*be, 7, 576, 96, 1, 1, true, false, true, true);
  bench_conv(*be, 7, 128, 768, 1, 1, true, false, true, false);  // layer 12
  bench_conv(*be, 7, 768, 128, 1, 1, true, false, true, true);
  bench_conv(*be, 7, 128, 256, 1, 1, true, false, true, false, false);  // head
  // strided 1x1 identity at the reduction layers
  bench_conv(*be, 28, 16, 24, 1, 2);
  bench_conv(*be, 14, 24, 40, 1, 2);
  // depthwise (input through the expand BN, +stats)
  for (int k : {3, 5, 7}) bench_dwconv(*be, 28, 96, k, 2);
  // the same layer narrower: per channel the depthwise backward costs about the same at C = 32,
  // 48 and 96, so a smaller per-image footprint (a channel-group split) would not pay
  // (docs/performance-earlier.md, "Depthwise backward and the memory limit")
  for (int c : {32, 48}) bench_dwconv(*be, 28, c, 3, 2);
  for (int k : {3, 5, 7}) bench_dwconv(*be, 14, 144, k, 1);
  bench_dwconv(*be, 14, 72, 7, 2);
  for (int k : {3, 5, 7}) bench_dwconv(*be, 7, 480, k, 1);
  bench_dwconv(*be, 7, 768, 7, 1);
  // eval-mode MBConv blocks (k x k, e6) in one call and as the unfused ops
  bench_mbconv_eval(*be, 28, 16, 96, 24, 3, 2);
  bench_mbconv_eval(*be, 14, 24, 144, 24, 5, 1);
  bench_mbconv_eval(*be, 7, 80, 480, 80, 7, 1);
  bench_mbconv_eval(*be, 7, 96, 576, 96, 5, 1);
  // ... with squeeze-excite (greedynas-imagenet-se's blocks; 56x56 and 14x14 as at 224 px)
  bench_mbconv_eval(*be, 56, 24, 144, 24, 5, 1, true);
  bench_mbconv_eval(*be, 14, 80, 480, 80, 7, 1, true);
  bench_mbconv_eval(*be, 7, 96, 576, 96, 5, 1, true);
  // eval-mode heads: W1's, and the ImageNet spaces' (320 -> 1280)
  bench_head_eval(*be, 7, 128, 256);
  bench_head_eval(*be, 7, 320, 1280);
  // batch norm + activation
  bench_bn(*be, 28, 96, Act::ReLU6);
  bench_bn(*be, 14, 144, Act::ReLU6);
  bench_bn(*be, 7, 768, Act::ReLU6);
  bench_bn(*be, 7, 128, Act::None);
  bench_se(*be, 28, 144);
  bench_se(*be, 7, 480);
  bench_small(*be);
  return 0;
}
