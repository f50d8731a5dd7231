// Input normalisation of NHWC images: x = (src / 255 - mean[c]) / std[c] (uint8 source) or
// (src - mean[c]) / std[c] (float source), folded into one FMA per element, x = src * a[c] + b[c].
// The per-channel constants repeat with period C along the flat array; they are laid out over
// lcm(C, L) floats (one to C vectors) so the loop is pure vector code for any small C.
#pragma once

namespace gnas {
namespace cpu {
namespace GNAS_ISA {

template <class Src>
static void normalize_any(Ctx& ctx, float* x, const Src* src, const float* mean, const float* std, int64_t M, int C,
                          double in_scale) {
  const int64_t n = M * C;
  int period = L;  // lcm(C, L)
  while (period % C != 0) period += L;
  if (period > 64 * L) {
    for (int64_t i = 0; i < n; ++i) {
      const int c = int(i % C);
      x[i] = float((double(src[i]) * in_scale - double(mean[c])) / double(std[c]));
    }
    return;
  }
  float* ab = ctx.ws->shared(6, size_t(2) * period);
  for (int i = 0; i < period; ++i) {
    const int c = i % C;
    ab[i] = float(in_scale / double(std[c]));
    ab[period + i] = float(-double(mean[c]) / double(std[c]));
  }
  const int64_t nper = n / period;
  auto body = [&](int64_t b, int64_t e) {  // over whole periods
    for (int64_t blk = b; blk < e; ++blk) {
      const int64_t base = blk * period;
      for (int i = 0; i < period; i += L) {
        vf s;
        if constexpr (sizeof(Src) == 1) s = load_u8(reinterpret_cast<const uint8_t*>(src) + base + i);
        else s = load(reinterpret_cast<const float*>(src) + base + i);
        store(x + base + i, fmadd(s, load(ab + i), load(ab + period + i)));
      }
    }
  };
  const int64_t chunk = imax<int64_t>(1, 16384 / period);
  if (nper > 4 * chunk && ctx.nthreads > 1)
    parallel_for(*ctx.pool, ceil_div(nper, chunk), 1, [&](int64_t b, int64_t e, int) {
      body(b * chunk, imin(nper, e * chunk));
    });
  else
    body(0, nper);
  for (int64_t i = nper * period; i < n; ++i) {
    const int c = int(i % C);
    x[i] = float(double(src[i])) * ab[c] + ab[period + c];
  }
}

static void normalize_u8(Ctx& ctx, float* x, const uint8_t* src, const float* mean, const float* std, int64_t M,
                         int C) {
  normalize_any(ctx, x, src, mean, std, M, C, 1.0 / 255.0);
}
static void normalize_f32(Ctx& ctx, float* x, const float* src, const float* mean, const float* std, int64_t M,
                          int C) {
  normalize_any(ctx, x, src, mean, std, M, C, 1.0);
}

}  // namespace GNAS_ISA
}  // namespace cpu
}  // namespace gnas
