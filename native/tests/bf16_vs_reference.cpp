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
//
// bfloat16 storage (Bf16Io, the scoring forward's inner activations): the 1x1 convs and the
// depthwise forward (Backend::dwconv_forward_fused_bf16, bfloat16 products as the 1x1 convs': the
// CPU pairs two taps per vdpbf16ps) with the input and/or the output stored in
// bfloat16, against the reference's emulation. An input in bfloat16 is the same bits on both
// sides; an output in bfloat16 is rounded on both sides from float values that differ in their
// last bits, so two neighbouring bfloat16 values may come out, one bfloat16 step apart: up to
// 2^-7 of a value's size (8e-3; 4.2e-3 seen on C1152 K192). The batch statistics are those of
// the float outputs before rounding, on both sides.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/backend.h"
#include "harness.h"

namespace gnas {
namespace test {

namespace {
// bfloat16 storage as the backends use it: two values to a float slot (upper 16 bits, nearest even).
std::vector<float> stored_bf16(const std::vector<float>& x) {
  std::vector<float> out((x.size() + 1) / 2, 0.0f);
  uint16_t* h = reinterpret_cast<uint16_t*>(out.data());
  for (size_t i = 0; i < x.size(); i++) {
    uint32_t u;
    std::memcpy(&u, &x[i], sizeof u);
    h[i] = uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
  }
  return out;
}
std::vector<float> widened(const std::vector<float>& stored, size_t n) {
  std::vector<float> out(n);
  const uint16_t* h = reinterpret_cast<const uint16_t*>(stored.data());
  for (size_t i = 0; i < n; i++) {
    const uint32_t u = uint32_t(h[i]) << 16;
    std::memcpy(&out[i], &u, sizeof u);
  }
  return out;
}
const char* io_name(Bf16Io io) {
  if (io.in && io.out) return " io:in+out";
  if (io.in) return " io:in";
  if (io.out) return " io:out";
  return "";
}
}  // namespace

void check_storage(Harness& h, const std::string& name, Backend& fast, Backend& ref, const ConvShape& s,
                   const std::vector<float>& x, const std::vector<float>& w, const BnAct* pb, bool depthwise);
void check_block_output(Harness& h, Backend& fast, Backend& ref);

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
      if (s.k == 1 && s.stride == 1) check_storage(h, t, fast, ref, s, x, w, pb, false);
    }
  }
  // the depthwise forward with bfloat16 storage (the scoring MBConv's middle)
  struct DwCase { int N, H, W, C, k, stride; };
  const DwCase dw_cases[] = {{2, 8, 8, 24, 3, 1}, {2, 14, 14, 144, 3, 2}, {3, 7, 7, 40, 5, 1}, {2, 9, 9, 17, 5, 2},
                             {2, 7, 7, 72, 7, 1}, {1, 12, 12, 33, 7, 2}, {2, 14, 14, 144, 5, 1}, {3, 28, 28, 48, 7, 2},
                             {2, 9, 9, 17, 3, 2}, {1, 7, 7, 40, 3, 1}, {2, 9, 9, 16, 3, 3} /* stride 3: emulated */,
                             // strips past column 0 (Q > 8), at stride 1 and 2 with an even width
                             {1, 28, 28, 16, 3, 1}, {1, 18, 18, 24, 3, 2}, {1, 18, 18, 20, 5, 2},
                             // kernels wider than the image: padding rows and columns skipped at both edges
                             {2, 3, 2, 20, 7, 1}, {1, 5, 4, 16, 5, 2}, {2, 4, 6, 33, 7, 2}, {2, 2, 1, 20, 3, 1},
                             {1, 3, 2, 33, 3, 2}, {2, 1, 1, 17, 3, 2}, {2, 1, 1, 17, 7, 2}};
  for (const DwCase& c : dw_cases)
    for (int variant = 0; variant < 2; ++variant) {  // 0: plain, 1: +in_bn relu6
      ConvShape s;
      s.N = c.N; s.H = c.H; s.W = c.W; s.C = c.C; s.K = c.C; s.k = c.k; s.stride = c.stride; s.pad = c.k / 2;
      s.finish();
      Rng rng(7000 + ci++);
      auto x = rng.normal_vec<float>(size_t(s.in_size()), 1.3, 0.4);
      auto w = rng.normal_vec<float>(size_t(s.k) * s.k * s.C, 0.3);
      auto mean = rng.normal_vec<float>(size_t(s.C), 0.3), invstd = rng.uniform_vec<float>(size_t(s.C), 0.5, 2.0);
      auto gamma = rng.uniform_vec<float>(size_t(s.C), 0.5, 2.0), beta = rng.normal_vec<float>(size_t(s.C), 1.0);
      BnAct bn;
      bn.mean = mean.data(); bn.invstd = invstd.data(); bn.gamma = gamma.data(); bn.beta = beta.data();
      bn.act = Act::ReLU6;
      const std::string t = fmt("bf16 dwconv N%d H%d W%d C%d k%d s%d%s", s.N, s.H, s.W, s.C, s.k, s.stride,
                                variant == 0 ? "" : " +bn relu6");
      if (!h.selected(t)) continue;
      check_storage(h, t, fast, ref, s, x, w, variant ? &bn : nullptr, true);
    }
  check_block_output(h, fast, ref);
}

// The block output in one pass (Backend::bn_act_residual_apply): with float storage it must equal
// bn_act_apply followed by add_inplace bit for bit on the same backend, and the reference within
// FP32 rounding; with bfloat16 storage (residual in; y and x out) the reference's emulation within
// one bfloat16 step (8e-3), as above, in place (y = x) as well.
void check_block_output(Harness& h, Backend& fast, Backend& ref) {
  struct Case { int64_t M; int C; Act act; bool residual; };
  const Case cases[] = {{98, 24, Act::None, true}, {49, 40, Act::None, false}, {200, 17, Act::ReLU6, true},
                        {64, 128, Act::HSwish, false}, {3000, 80, Act::None, true}};
  int ci = 0;
  for (const Case& c : cases) {
    Rng rng(9100 + ci++);
    const size_t n = size_t(c.M) * size_t(c.C);
    auto x = rng.normal_vec<float>(n, 1.0, 0.3);
    auto r = rng.normal_vec<float>(n, 1.0);
    auto mean = rng.normal_vec<float>(size_t(c.C), 0.3), invstd = rng.uniform_vec<float>(size_t(c.C), 0.5, 2.0);
    auto gamma = rng.uniform_vec<float>(size_t(c.C), 0.5, 2.0), beta = rng.normal_vec<float>(size_t(c.C), 1.0);
    const std::vector<float> r16 = stored_bf16(r), x16 = stored_bf16(x);
    const std::string name = fmt("block output M%lld C%d act%d%s", (long long)c.M, c.C, int(c.act),
                                 c.residual ? " +residual" : "");
    if (!h.selected(name)) continue;
    const Bf16Io ios[] = {{false, false}, {true, false}, {false, true}, {true, true}};
    for (const Bf16Io io : ios) {
      if (io.in && !c.residual) continue;
      const std::string t = name + io_name(io);
      const float* res = c.residual ? (io.in ? r16.data() : r.data()) : nullptr;
      const float* xs = io.out ? x16.data() : x.data();
      std::vector<float> yf = poisoned(n), yr = poisoned(n);
      fast.bn_act_residual_apply(yf.data(), xs, mean.data(), invstd.data(), gamma.data(), beta.data(), c.act, res,
                                 c.M, c.C, io);
      ref.bn_act_residual_apply(yr.data(), xs, mean.data(), invstd.data(), gamma.data(), beta.data(), c.act, res,
                                c.M, c.C, io);
      const std::vector<float> yfw = io.out ? widened(yf, n) : yf, yrw = io.out ? widened(yr, n) : yr;
      h.check(t, "y", rel_max_err(yfw, yrw), io.out ? 8e-3 : 1e-6);
      if (io.out) {  // in place, as the scoring forward runs it: y over x
        std::vector<float> yi = x16;
        fast.bn_act_residual_apply(yi.data(), yi.data(), mean.data(), invstd.data(), gamma.data(), beta.data(), c.act,
                                   res, c.M, c.C, io);
        const bool same = std::memcmp(yi.data(), yf.data(), n * sizeof(uint16_t)) == 0;
        h.check(t, "in place = out of place (bits)", same ? 0.0 : 1.0, 0.0);
      }
      if (io.in || io.out) continue;
      std::vector<float> y2 = poisoned(n);
      fast.bn_act_apply(y2.data(), x.data(), mean.data(), invstd.data(), gamma.data(), beta.data(), c.act, c.M, c.C);
      if (c.residual) fast.add_inplace(y2.data(), r.data(), int64_t(n));
      h.check(t, "= bn_act_apply + add_inplace (bits)", std::memcmp(y2.data(), yf.data(), n * sizeof(float)) ? 1.0 : 0.0,
              0.0);
    }
  }
}

// One op (1x1 conv or depthwise) with each bfloat16 storage choice, fast against reference; x
// and w as generated (float), x rounded into bfloat16 storage where io.in says.
void check_storage(Harness& h, const std::string& name, Backend& fast, Backend& ref, const ConvShape& s,
                   const std::vector<float>& x, const std::vector<float>& w, const BnAct* pb, bool depthwise) {
  const Bf16Io ios[] = {{false, false}, {true, false}, {false, true}, {true, true}};
  const size_t ny = size_t(s.out_size()), nk = size_t(s.K);
  const std::vector<float> x16 = stored_bf16(x);
  for (const Bf16Io io : ios) {
    if (!depthwise && !io.in && !io.out) continue;  // the float-stored conv is checked above
    const std::string t = name + io_name(io);
    const float* xin = io.in ? x16.data() : x.data();
    std::vector<float> yf = poisoned(ny), yr = poisoned(ny), y32 = poisoned(ny);
    std::vector<float> mf = poisoned(nk), isf = poisoned(nk), mr = poisoned(nk), isr = poisoned(nk);
    if (depthwise) {
      fast.dwconv_forward_fused_bf16(yf.data(), mf.data(), isf.data(), 1e-5f, xin, pb, w.data(), s, io);
      ref.dwconv_forward_fused_bf16(yr.data(), mr.data(), isr.data(), 1e-5f, xin, pb, w.data(), s, io);
      // the same products stored in float, on the same (possibly rounded) input
      const std::vector<float> xw = io.in ? widened(x16, x.size()) : x;
      ref.dwconv_forward_fused_bf16(y32.data(), nullptr, nullptr, 1e-5f, xw.data(), pb, w.data(), s, Bf16Io{});
      if (!io.in && !io.out) {
        // bfloat16 products really round, and stay close to the float op
        std::vector<float> yfl = poisoned(ny);
        ref.dwconv_forward_fused(yfl.data(), nullptr, nullptr, 1e-5f, x.data(), pb, w.data(), s);
        const double rounding = rel_max_err(yr, yfl);
        h.check(t, "ref bf16 products vs fp32 <", rounding, 3e-2);
        h.check(t, "ref rounds: 1e-5 <", rounding > 1e-5 ? 0.0 : 1.0, 0.0);
      }
    } else {
      fast.conv_forward_fused_bf16(yf.data(), mf.data(), isf.data(), 1e-5f, xin, pb, w.data(), s, io);
      ref.conv_forward_fused_bf16(yr.data(), mr.data(), isr.data(), 1e-5f, xin, pb, w.data(), s, io);
      const std::vector<float> xw = io.in ? widened(x16, x.size()) : x;
      ref.conv_forward_fused_bf16(y32.data(), nullptr, nullptr, 1e-5f, xw.data(), pb, w.data(), s);
    }
    const std::vector<float> yfw = io.out ? widened(yf, ny) : yf, yrw = io.out ? widened(yr, ny) : yr;
    const double tol = io.out ? 8e-3 : (pb ? 4e-3 : 1e-4);
    h.check(t, "y", rel_max_err(yfw, yrw), tol);
    h.check(t, "mean", rel_max_err(mf, mr), pb ? 4e-3 : 1e-4);
    h.check(t, "invstd", rel_max_err(isf, isr), pb ? 4e-3 : 1e-4);
    // stored output = the float output rounded: close to it, and really rounded
    const double rounding = rel_max_err(yrw, y32);
    if (io.out) {
      h.check(t, "ref out bf16 vs float <", rounding, 4e-3);
      h.check(t, "ref out rounds: 1e-5 <", rounding > 1e-5 ? 0.0 : 1.0, 0.0);
    } else {
      h.check(t, "ref float-stored output = float op", rounding, 1e-6);
    }
  }
}

}  // namespace test
}  // namespace gnas
