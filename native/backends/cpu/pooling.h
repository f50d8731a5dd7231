// Global average pooling x[N][HW][C] -> y[N][C] and its backward (dx = dy / HW broadcast over the
// pixels). Parallel over images; the forward keeps up to 8 channel vectors of sums in registers
// while it walks the pixels.
#pragma once

namespace gnas {
namespace cpu {
namespace GNAS_ISA {

template <int G>
static void gap_group(float* yn, const float* xn, int HW, const ChanLayout& cl, int v0, vf inv) {
  vf s[G];
#pragma GCC unroll 8
  for (int g = 0; g < G; ++g) s[g] = zero();
  for (int i = 0; i < HW; ++i) {
    const float* xr = xn + int64_t(i) * cl.C;
#pragma GCC unroll 8
    for (int g = 0; g < G; ++g) s[g] = add(s[g], cl.ld(xr, v0 + g));
  }
#pragma GCC unroll 8
  for (int g = 0; g < G; ++g) cl.st(yn, v0 + g, mul(s[g], inv));
}

// Per image n: y[n][c] = mean_i x[n][i][c].
static void gap_image(float* yn, const float* xn, int HW, const ChanLayout& cl) {
  const vf inv = set1(1.0f / float(HW));
  for (int v0 = 0; v0 < cl.nv; v0 += 8) {
    const int g = imin(8, cl.nv - v0);
#define GNAS_CALL(n) gap_group<n>(yn, xn, HW, cl, v0, inv)
    GNAS_G_SWITCH(g, GNAS_CALL)
#undef GNAS_CALL
  }
}

static void gap_forward(Ctx& ctx, float* y, const float* x, int N, int HW, int C) {
  const ChanLayout cl(C);
  const int64_t per = int64_t(HW) * C;
  parallel_for(*ctx.pool, N, imax(1, N / (4 * ctx.nthreads)), [&](int64_t b, int64_t e, int) {
    for (int64_t n = b; n < e; ++n) gap_image(y + n * C, x + n * per, HW, cl);
  });
}

static void gap_backward(Ctx& ctx, float* dx, const float* dy, int N, int HW, int C) {
  const ChanLayout cl(C);
  const int64_t per = int64_t(HW) * C;
  const vf inv = set1(1.0f / float(HW));
  parallel_for(*ctx.pool, N, imax(1, N / (4 * ctx.nthreads)), [&](int64_t b, int64_t e, int) {
    for (int64_t n = b; n < e; ++n)
      for (int v = 0; v < cl.nv; ++v) {
        const vf g = mul(cl.ld(dy + n * C, v), inv);
        float* d = dx + n * per;
        for (int i = 0; i < HW; ++i) cl.st(d + int64_t(i) * C, v, g);
      }
  });
}

}  // namespace GNAS_ISA
}  // namespace cpu
}  // namespace gnas
