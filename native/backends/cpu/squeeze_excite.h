// Squeeze-excite on x[N][HW][C] (SEShape in core/backend.h): pooled = mean over pixels, hidden =
// relu(w1 . pooled + b1), gate = sigmoid(w2 . hidden + b2), y = x * gate. The two small FCs run on
// the GEMM drivers with M = N rows; the pixel-sized passes (pool, scale, and in the backward the
// per-image sums of dy * x and dx = dy * gate + dpooled / HW) are vectorised and split by image.
#pragma once

namespace gnas {
namespace cpu {
namespace GNAS_ISA {

static float sigmoidf_(float a) { return 1.0f / (1.0f + expf(-a)); }

// The pieces of se_forward shared with the eval-mode chain (eval_chains.h), which runs them a
// group of images at a time: relu(hidden + b1) and sigmoid(gate + b2) over `rows` images, in
// place, and one image's y = x * gate.
static void se_hidden_rows(float* hidden, const float* b1, int64_t rows, int R) {
  for (int64_t n = 0; n < rows; ++n)
    for (int r = 0; r < R; ++r) {
      const float h = hidden[n * R + r] + b1[r];
      hidden[n * R + r] = h > 0 ? h : 0.0f;
    }
}
static void se_gate_rows(float* gate, const float* b2, int64_t rows, int C) {
  for (int64_t n = 0; n < rows; ++n)
    for (int c = 0; c < C; ++c) gate[n * C + c] = sigmoidf_(gate[n * C + c] + b2[c]);
}
static void se_scale_image(float* yn, const float* xn, const float* gate_n, int HW, const ChanLayout& cl) {
  for (int i = 0; i < HW; ++i) {
    const float* xr = xn + int64_t(i) * cl.C;
    float* yr = yn + int64_t(i) * cl.C;
    for (int v = 0; v < cl.nv; ++v) cl.st(yr, v, mul(cl.ld(xr, v), cl.ld(gate_n, v)));
  }
}

static void se_scale(Ctx& ctx, float* y, const float* x, const float* gate, const SEShape& s) {
  const ChanLayout cl(s.C);
  const int64_t per = int64_t(s.HW) * s.C;
  parallel_for(*ctx.pool, s.N, imax(1, s.N / (4 * ctx.nthreads)), [&](int64_t b, int64_t e, int) {
    for (int64_t n = b; n < e; ++n) se_scale_image(y + n * per, x + n * per, gate + n * s.C, s.HW, cl);
  });
}

static void se_forward(Ctx& ctx, float* y, float* pooled, float* hidden, float* gate, const float* x, const float* w1,
                       const float* b1, const float* w2, const float* b2, const SEShape& s) {
  const int N = s.N, HW = s.HW, C = s.C, R = s.R;
  gap_forward(ctx, pooled, x, N, HW, C);
  conv1x1_forward(ctx, hidden, pooled, w1, N, C, R, nullptr, nullptr, nullptr, 0.0f);
  se_hidden_rows(hidden, b1, N, R);
  conv1x1_forward(ctx, gate, hidden, w2, N, R, C, nullptr, nullptr, nullptr, 0.0f);
  se_gate_rows(gate, b2, N, C);
  se_scale(ctx, y, x, gate, s);
}

// dlogit[c] = (sum over the image's pixels of dy * x) * g * (1 - g) for channel vectors
// [v0, v0 + G), accumulated in registers over one walk through the pixels (each lane's sum in
// pixel order, as a walk per vector would take it).
template <int G>
static void se_dlogit_group(float* dlogit_n, const float* dyn, const float* xn, const float* gate_n, int HW,
                            const ChanLayout& cl, int v0) {
  vf s[G];
#pragma GCC unroll 8
  for (int g = 0; g < G; ++g) s[g] = zero();
  for (int i = 0; i < HW; ++i) {
    const float* dr = dyn + int64_t(i) * cl.C;
    const float* xr = xn + int64_t(i) * cl.C;
#pragma GCC unroll 8
    for (int g = 0; g < G; ++g) s[g] = fmadd(cl.ld(dr, v0 + g), cl.ld(xr, v0 + g), s[g]);
  }
#pragma GCC unroll 8
  for (int g = 0; g < G; ++g) {
    const vf gt = cl.ld(gate_n, v0 + g);
    cl.st(dlogit_n, v0 + g, mul(s[g], mul(gt, sub(set1(1.0f), gt))));
  }
}

static void se_backward(Ctx& ctx, float* dx, float* dw1, float* db1, float* dw2, float* db2, const float* dy,
                        const float* x, const float* pooled, const float* hidden, const float* gate, const float* w1,
                        const float* w2, const SEShape& s) {
  const int N = s.N, HW = s.HW, C = s.C, R = s.R;
  const ChanLayout cl(C);
  const int64_t per = int64_t(HW) * C;
  float* dlogit = ctx.ws->shared(6, size_t(N) * C);
  float* tmp = ctx.ws->shared(7, size_t(N) * (R + C));
  float* dpre = tmp;                       // [N][R]
  float* dpool = tmp + int64_t(N) * R;     // [N][C]
  // dlogit[n][c] = (sum_i dy * x) * g * (1 - g), up to 8 channel vectors per walk over the pixels
  parallel_for(*ctx.pool, N, imax(1, N / (4 * ctx.nthreads)), [&](int64_t b, int64_t e, int) {
    for (int64_t n = b; n < e; ++n)
      for (int v0 = 0; v0 < cl.nv; v0 += 8) {
        const int g = imin(8, cl.nv - v0);
#define GNAS_CALL(G) se_dlogit_group<G>(dlogit + n * C, dy + n * per, x + n * per, gate + n * C, HW, cl, v0)
        GNAS_G_SWITCH(g, GNAS_CALL)
#undef GNAS_CALL
      }
  });
  for (int c = 0; c < C; ++c) {
    double a = 0;
    for (int n = 0; n < N; ++n) a += double(dlogit[int64_t(n) * C + c]);
    db2[c] = float(a);
  }
  // fc2 backward: dw2[C][R] = dlogit^T . hidden, dhidden = dlogit . w2 (into dpre)
  conv1x1_backward(ctx, dpre, dw2, dlogit, hidden, w2, N, R, C, nullptr);
  for (int64_t i = 0; i < int64_t(N) * R; ++i) dpre[i] = hidden[i] > 0 ? dpre[i] : 0.0f;
  for (int r = 0; r < R; ++r) {
    double a = 0;
    for (int n = 0; n < N; ++n) a += double(dpre[int64_t(n) * R + r]);
    db1[r] = float(a);
  }
  // fc1 backward: dw1[R][C] = dpre^T . pooled, dpooled = dpre . w1
  conv1x1_backward(ctx, dx ? dpool : nullptr, dw1, dpre, pooled, w1, N, C, R, nullptr);
  if (!dx) return;
  const vf inv = set1(1.0f / float(HW));
  parallel_for(*ctx.pool, N, imax(1, N / (4 * ctx.nthreads)), [&](int64_t b, int64_t e, int tid) {
    float* dp = ctx.ws->thread(tid, 0, size_t(cl.nv) * L);  // dpooled / HW of the image
    for (int64_t n = b; n < e; ++n) {
      for (int v = 0; v < cl.nv; ++v) store(dp + v * L, mul(cl.ld(dpool + n * C, v), inv));
      // pixel by pixel: dy and dx are walked in order, once
      for (int i = 0; i < HW; ++i) {
        const int64_t o = n * per + int64_t(i) * C;
        for (int v = 0; v < cl.nv; ++v)
          cl.st(dx + o, v, fmadd(cl.ld(dy + o, v), cl.ld(gate + n * C, v), load(dp + v * L)));
      }
    }
  });
}

}  // namespace GNAS_ISA
}  // namespace cpu
}  // namespace gnas
