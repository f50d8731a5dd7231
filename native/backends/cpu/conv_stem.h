// Direct kernels for the stem: a k x k dense conv over an input with few channels (C = 1 or 3,
// the raw image). Through im2col + GEMM such a conv is all overhead (rows of 9 or 27 values,
// a reduction of 9 steps per 16-wide output tile), so it gets its own loops:
//
//   forward: per image, the input is copied into a zero-padded buffer; for a strip of QS output
//     pixels the K output channels lie along the lanes (NV vectors) and the QS x NV tile is held
//     in registers while every tap (i, j, c) broadcasts one input value per pixel against one
//     packed weight row wp[tap][K]. With (k, C, stride) compile-time, tap offsets are immediates.
//   backward (weight gradient; the stem never needs dx): per pixel, dy[pixel][0..K) is one vector
//     row and each tap accumulates broadcast(x) * dy into its own register row of dW^T, per-thread
//     partials reduced and transposed at the end.
// Shapes: k = 3, C in {1, 3}, stride 1 or 2, pad = 1, K <= 2*L, when the register tile fits the
// ISA's register file; anything else goes to im2col.
#pragma once
#include <algorithm>

namespace gnas {
namespace cpu {
namespace GNAS_ISA {

// Zero-padded copy of an NHWC image with few channels: buf[(h + pad)][(w + pad)][C].
static void pad_small(float* buf, const float* src, int H, int W, int C, int pad) {
  const int Wp = W + 2 * pad, Hp = H + 2 * pad;
  for (int i = 0; i < Hp * Wp * C; ++i) buf[i] = 0.0f;
  for (int h = 0; h < H; ++h) {
    float* d = buf + (int64_t(h + pad) * Wp + pad) * C;
    const float* s = src + int64_t(h) * W * C;
    for (int i = 0; i < W * C; ++i) d[i] = s[i];
  }
}

// One strip of QS output pixels of row p (src = padded row p*S, column q0*S).
template <int KS, int CS, int S, int QS, int NV>
static void stem_fwd_strip(const float* src, int64_t prow, const float* wp, int NP, float* out, int64_t ldo,
                           int nlast, float* ssum, float* ssq) {
  vf acc[QS][NV];
#pragma GCC unroll 16
  for (int u = 0; u < QS; ++u)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[u][v] = zero();
#pragma GCC unroll 3
  for (int i = 0; i < KS; ++i) {
    const float* r = src + i * prow;
#pragma GCC unroll 3
    for (int j = 0; j < KS; ++j)
#pragma GCC unroll 3
      for (int c = 0; c < CS; ++c) {
        const float* wt = wp + ((i * KS + j) * CS + c) * NP;
        vf b[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) b[v] = load(wt + v * L);
#pragma GCC unroll 16
        for (int u = 0; u < QS; ++u) {
          const vf a = broadcast(r + (u * S + j) * CS + c);
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) acc[u][v] = fmadd(a, b[v], acc[u][v]);
        }
      }
  }
  const tmask tm = tail_mask(nlast);
  vf s1[NV], s2[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) s1[v] = s2[v] = zero();
#pragma GCC unroll 16
  for (int u = 0; u < QS; ++u)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      if (v == NV - 1 && nlast < L) store(out + u * ldo + v * L, acc[u][v], tm);
      else store(out + u * ldo + v * L, acc[u][v]);
      s1[v] = add(s1[v], acc[u][v]);
      s2[v] = fmadd(acc[u][v], acc[u][v], s2[v]);
    }
  if (ssum)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      store(ssum + v * L, add(load(ssum + v * L), s1[v]));
      store(ssq + v * L, add(load(ssq + v * L), s2[v]));
    }
}

template <int KS, int CS, int S, int NV>
static void stem_forward_t(Ctx& ctx, float* y, float* mean, float* invstd, float eps, const float* x, const float* w,
                           const ConvShape& s) {
  constexpr int kk = KS * KS * CS;
  const int K = s.K, NP = NV * L, pad = KS / 2;
  const int Hp = s.H + 2 * pad, Wp = s.W + 2 * pad;
  const int nlast = K - (NV - 1) * L;
  // packed weights wp[tap][NP], taps in w's (i, j, c) order, zero past K
  float* wp = ctx.ws->shared(0, size_t(kk) * NP);
  for (int t = 0; t < kk; ++t)
    for (int o = 0; o < NP; ++o) wp[t * NP + o] = o < K ? w[int64_t(o) * kk + t] : 0.0f;
  const int64_t HWC = int64_t(s.H) * s.W * CS, PQ = int64_t(s.P) * s.Q;
  const bool stats = mean != nullptr;
  const int64_t grain = slot_grain(s.N, imax(1, s.N / (4 * ctx.nthreads)));
  OutStats st;
  if (stats) st.init(ctx, NP, slot_count(s.N, grain));
  // Strips as long as the register file allows (QS x NV accumulators, NV weight vectors and one
  // broadcast): up to 8 pixels, 6 on AVX2 with NV = 2, where 8 would spill.
  constexpr int kQsMax = std::min((kVecRegs - NV - 1) / NV, 8);
  const int QS = ceil_div(s.Q, ceil_div(s.Q, kQsMax));
  parallel_for(*ctx.pool, s.N, grain, [&](int64_t b, int64_t e, int tid) {
    float* buf = ctx.ws->thread(tid, 0, size_t(Hp) * Wp * CS);
    for (int64_t n = b; n < e; ++n) {
      float* fs = stats ? st.block(ctx, tid) : nullptr;
      pad_small(buf, x + n * HWC, s.H, s.W, CS, pad);
      for (int p = 0; p < s.P; ++p)
        for (int q0 = 0; q0 < s.Q; q0 += QS) {
          const int qs = imin(QS, s.Q - q0);
          const float* src = buf + (int64_t(p) * S * Wp + int64_t(q0) * S) * CS;
          float* out = y + (n * PQ + int64_t(p) * s.Q + q0) * K;
#define GNAS_CALL(m) \
  stem_fwd_strip<KS, CS, S, m, NV>(src, int64_t(Wp) * CS, wp, NP, out, K, nlast, fs, stats ? fs + NP : nullptr)
          GNAS_QS_SWITCH(qs, GNAS_CALL)
#undef GNAS_CALL
        }
      if (stats) st.flush(fs, int(b / grain));
    }
  });
  if (stats) st.finish(mean, invstd, eps, int64_t(s.N) * PQ, K);
}

// dW^T[tap][0..NP) += sum over the image's pixels of x(pixel + tap) * dy[pixel][0..K), in passes
// of VP output vectors (kk x VP accumulators must fit the registers: on AVX2 a C = 1 stem with
// K = 16 takes its two vectors one pass each, rereading the image from L1).
template <int KS, int CS, int S, int NV>
static void stem_dw_image(float* part, const float* buf, int Wp, const float* dyn, int P, int Q, int K, int nlast) {
  constexpr int kk = KS * KS * CS;
  constexpr int VP = kk * NV + NV + 1 <= kVecRegs ? NV : 1;
  const int NP = NV * L;
  const tmask tm = tail_mask(nlast);
  for (int v0 = 0; v0 < NV; v0 += VP) {
    vf acc[kk][VP];
#pragma GCC unroll 32
    for (int t = 0; t < kk; ++t)
#pragma GCC unroll 4
      for (int v = 0; v < VP; ++v) acc[t][v] = zero();
    for (int p = 0; p < P; ++p)
      for (int q = 0; q < Q; ++q) {
        const float* g = dyn + (int64_t(p) * Q + q) * K + v0 * L;
        vf d[VP];
#pragma GCC unroll 4
        for (int v = 0; v < VP; ++v) d[v] = (v0 + v == NV - 1 && nlast < L) ? load(g + v * L, tm) : load(g + v * L);
        const float* r = buf + (int64_t(p) * S * Wp + int64_t(q) * S) * CS;
#pragma GCC unroll 3
        for (int i = 0; i < KS; ++i)
#pragma GCC unroll 3
          for (int j = 0; j < KS; ++j)
#pragma GCC unroll 3
            for (int c = 0; c < CS; ++c) {
              const vf a = broadcast(r + (int64_t(i) * Wp + j) * CS + c);
#pragma GCC unroll 4
              for (int v = 0; v < VP; ++v)
                acc[(i * KS + j) * CS + c][v] = fmadd(a, d[v], acc[(i * KS + j) * CS + c][v]);
            }
      }
#pragma GCC unroll 32
    for (int t = 0; t < kk; ++t)
#pragma GCC unroll 4
      for (int v = 0; v < VP; ++v) {
        float* pt = part + t * NP + (v0 + v) * L;
        store(pt, add(load(pt), acc[t][v]));
      }
  }
}

template <int KS, int CS, int S, int NV>
static void stem_backward_dw_t(Ctx& ctx, float* dw, const float* dy, const BnBwd* ob, const float* x,
                               const ConvShape& s) {
  constexpr int kk = KS * KS * CS;
  const int K = s.K, NP = NV * L, pad = KS / 2;
  const int Hp = s.H + 2 * pad, Wp = s.W + 2 * pad;
  const int nlast = K - (NV - 1) * L;
  const int64_t HWC = int64_t(s.H) * s.W * CS, PQ = int64_t(s.P) * s.Q;
  // per-chunk partials (kernels.h, slot_grain)
  const int64_t grain = slot_grain(s.N, imax(1, s.N / (4 * ctx.nthreads)));
  const int nslots = slot_count(s.N, grain);
  float* part[Workspace::kMaxThreads];
  for (int t = 0; t < nslots; ++t) {
    part[t] = ctx.ws->thread(t, 2, size_t(kk) * NP);
    for (int i = 0; i < kk * NP; ++i) part[t][i] = 0.0f;
  }
  parallel_for(*ctx.pool, s.N, grain, [&](int64_t b, int64_t e, int tid) {
    float* buf = ctx.ws->thread(tid, 0, size_t(Hp) * Wp * CS);
    float* pr = part[b / grain];
    float* gbuf = ob ? ctx.ws->thread(tid, 6, size_t(PQ) * K) : nullptr;
    for (int64_t n = b; n < e; ++n) {
      pad_small(buf, x + n * HWC, s.H, s.W, CS, pad);
      const float* g = dy + n * PQ * K;
      if (ob) {  // the output gradient through the stem's BN (second pass), per image
        bn_bwd_apply(gbuf, dy, n * PQ, PQ, *ob);
        g = gbuf;
      }
      stem_dw_image<KS, CS, S, NV>(pr, buf, Wp, g, s.P, s.Q, K, nlast);
    }
  });
  for (int o = 0; o < K; ++o)
    for (int t = 0; t < kk; ++t) {
      float a = 0.0f;
      for (int i = 0; i < nslots; ++i) a += part[i][t * NP + o];
      dw[int64_t(o) * kk + t] = a;
    }
}

// Dispatch over the supported stem shapes (false: not one, use im2col). `acc` is the number of
// accumulator vectors the kernel needs at least (forward: strips of 4 pixels; weight gradient:
// one output vector per pass): shapes that would spill registers even so are left to im2col.
#define GNAS_STEM_SWITCH(FN, acc, ...)                                                            \
  {                                                                                               \
    const int nv = ceil_div(s.K, L);                                                              \
    if (s.k != 3 || s.pad != 1 || (s.C != 1 && s.C != 3) || (s.stride != 1 && s.stride != 2) ||  \
        nv > 2 || (acc) + nv + 1 > kVecRegs)                                                      \
      return false;                                                                               \
    switch ((s.C * 10 + s.stride) * 10 + nv) {                                                    \
      case 111: FN<3, 1, 1, 1>(__VA_ARGS__); return true;                                         \
      case 112: FN<3, 1, 1, 2>(__VA_ARGS__); return true;                                         \
      case 121: FN<3, 1, 2, 1>(__VA_ARGS__); return true;                                         \
      case 122: FN<3, 1, 2, 2>(__VA_ARGS__); return true;                                         \
      case 311: FN<3, 3, 1, 1>(__VA_ARGS__); return true;                                         \
      case 312: FN<3, 3, 1, 2>(__VA_ARGS__); return true;                                         \
      case 321: FN<3, 3, 2, 1>(__VA_ARGS__); return true;                                         \
      case 322: FN<3, 3, 2, 2>(__VA_ARGS__); return true;                                         \
    }                                                                                             \
    return false;                                                                                 \
  }

static bool stem_forward(Ctx& ctx, float* y, float* mean, float* invstd, float eps, const float* x, const float* w,
                         const ConvShape& s) GNAS_STEM_SWITCH(stem_forward_t, 4 * nv, ctx, y, mean, invstd, eps, x, w, s)

static bool stem_backward_dw(Ctx& ctx, float* dw, const float* dy, const BnBwd* ob, const float* x,
                             const ConvShape& s) GNAS_STEM_SWITCH(stem_backward_dw_t, 9 * s.C, ctx, dw, dy, ob, x, s)

#undef GNAS_STEM_SWITCH

}  // namespace GNAS_ISA
}  // namespace cpu
}  // namespace gnas
