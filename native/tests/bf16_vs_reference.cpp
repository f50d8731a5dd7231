// The bfloat16 scoring conv (Backend::conv_forward_fused_bf16) of a fast backend against the
// reference, whose implementation is the Backend default: the activated input and the weights
// rounded to bfloat16 (nearest even) around its own double-accumulating conv. The fast backend
// runs its hardware kernel where it has one (cpu: 1x1 stride-1 convs on AVX512-BF16) and the same
// emulation elsewhere (GNAS_CPU_ISA=avx2 / generic, other shapes), so every case must match.
//
// Tolerances (relative to the reference output's max-abs value):
//   no input BN: 1e-4, as any FP32 forward. The products of bfloat16 values are exact in float,
//     so the two sides differ only in the order and precision of the sums.
//   with input BN+act: 4e-3. The activated input is computed in float on both sides, but not
//     bit-identically (FMA vs separate ops, double in the reference); where it lies within an ulp
//     of a bfloat16 rounding boundary the two sides round it to neighbouring bfloat16 values,
//     2^-8 apart: one product off by up to 0.4% of its size.
// Each case also checks that bfloat16 really rounds: the reference's bf16 output differs from its
// FP32 output by more than 1e-5 and less than 3e-2 (bfloat16 keeps 8 significant bits).
#include <cstdio>
#include <string>
#include <vector>

#include "core/backend.h"
#include "harness.h"

namespace gnas {
namespace test {

void run_bf16_vs_reference(Harness& h, Backend& fast, Backend& ref) {
  struct Case { int N, H, W, C, K, k, stride; };
  const Case cases[] = {
      {2, 8, 8, 16, 24, 1, 1},   {1, 5, 7, 24, 144, 1, 1}, {2, 4, 5, 144, 40, 1, 1}, {3, 7, 7, 40, 17, 1, 1},
      {2, 14, 14, 240, 80, 1, 1}, {4, 7, 7, 1152, 192, 1, 1}, {1, 3, 3, 3, 16, 1, 1},  {2, 7, 7, 17, 33, 1, 1},
      {8, 28, 28, 40, 240, 1, 1}, {2, 6, 6, 24, 40, 1, 2} /* strided: emulated */, {2, 9, 9, 3, 16, 3, 2} /* stem */,
  };
  std::printf("   (cpu bfloat16 hardware kernel: %s)\n", fast.fast_bf16() ? "yes" : "no, emulated");
  int ci = 0;
  for (const Case& c : cases) {
    for (int variant = 0; variant < 3; ++variant) {  // 0: plain, 1: +in_bn relu6, 2: +in_bn hswish
      ConvShape s;
      s.N = c.N; s.H = c.H; s.W = c.W; s.C = c.C; s.K = c.K; s.k = c.k; s.stride = c.stride; s.pad = c.k / 2;
      s.finish();
      Rng rng(5000 + ci++);
      const size_t ws = size_t(s.K) * s.k * s.k * s.C;
      auto x = rng.normal_vec<float>(size_t(s.in_size()), 1.3, 0.4);
      auto w = rng.normal_vec<float>(ws, 0.3);
      auto mean = rng.normal_vec<float>(size_t(s.C), 0.3), invstd = rng.uniform_vec<float>(size_t(s.C), 0.5, 2.0);
      auto gamma = rng.uniform_vec<float>(size_t(s.C), 0.5, 2.0), beta = rng.normal_vec<float>(size_t(s.C), 1.0);
      BnAct bn;
      bn.mean = mean.data(); bn.invstd = invstd.data(); bn.gamma = gamma.data(); bn.beta = beta.data();
      bn.act = variant == 2 ? Act::HSwish : Act::ReLU6;
      const BnAct* pb = variant > 0 ? &bn : nullptr;
      const std::string t = fmt("bf16 conv N%d H%d W%d C%d K%d k%d s%d%s", s.N, s.H, s.W, s.C, s.K, s.k, s.stride,
                                variant == 0 ? "" : (variant == 1 ? " +bn relu6" : " +bn hswish"));
      if (!h.selected(t)) continue;
      const size_t ny = size_t(s.out_size()), nk = size_t(s.K);
      std::vector<float> yf = poisoned(ny), yr = poisoned(ny), y32 = poisoned(ny), yn = poisoned(ny);
      std::vector<float> mf = poisoned(nk), isf = poisoned(nk), mr = poisoned(nk), isr = poisoned(nk);
      fast.conv_forward_fused_bf16(yf.data(), mf.data(), isf.data(), 1e-5f, x.data(), pb, w.data(), s);
      ref.conv_forward_fused_bf16(yr.data(), mr.data(), isr.data(), 1e-5f, x.data(), pb, w.data(), s);
      fast.conv_forward_fused_bf16(yn.data(), nullptr, nullptr, 1e-5f, x.data(), pb, w.data(), s);
      ref.conv_forward_fused(y32.data(), nullptr, nullptr, 1e-5f, x.data(), pb, w.data(), s);
      const double tol = pb ? 4e-3 : 1e-4;
      h.check(t, "y", rel_max_err(yf, yr), tol);
      h.check(t, "y(nostats)", rel_max_err(yn, yr), tol);
      h.check(t, "mean", rel_max_err(mf, mr), tol);
      h.check(t, "invstd", rel_max_err(isf, isr), tol);
      const double rounding = rel_max_err(yr, y32);
      h.check(t, "ref bf16 vs fp32 <", rounding, 3e-2);
      h.check(t, "ref rounds: 1e-5 <", rounding > 1e-5 ? 0.0 : 1.0, 0.0);
    }
  }
}

}  // namespace test
}  // namespace gnas
