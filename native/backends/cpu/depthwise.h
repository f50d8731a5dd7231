// Depthwise k x k convolution (k = 3/5/7, stride 1/2, pad k/2), forward and backward, vectorised
// over channels.
//
// Layout trick: each thread copies the image it works on into a zero-padded, channel-blocked
// scratch buffer buf[v][Hp][Wp][L] (v = channel vector), so that
//   - the inner loops have no bounds checks (padding is real zeros),
//   - one channel vector's whole padded plane is contiguous (<= 13x13 or 20x20 pixels x 64 B for
//     the 7x7 and 14x14 layers): the loops run channel vector outermost, and the k rows the
//     current output row needs stay in L1 while the output rows advance.
//
// Inner kernel (dw_strip): a strip of QS <= 8 outputs of one row for one channel vector is held
// in QS registers; for each kernel row the input pixels under the strip are loaded ONCE and
// multiplied into every output that uses them (a sliding window: (QS-1)*S + k loads for QS*k
// FMAs instead of QS*k loads), with the k taps of the kernel row in registers.
//
// Fusion (Backend::dwconv_forward_fused): an input BN+act is applied while the image is copied
// into the padded buffer (the activated tensor is never stored), and the forward sums y and y^2
// per channel from the strip registers for the BN that follows.
//
// The zero border of a padded buffer is written once per geometry, not once per image (see
// pad_border); for 7x7 images under a 7x7 kernel it is 2.4x the interior.
//
// The backward (depthwise_backward.h) uses the same padded planes and strip kernels.
// Work is split by images (N = 128 in training gives each thread dozens).
#pragma once

namespace gnas {
namespace cpu {
namespace GNAS_ISA {

// acc[u] += sum_t src[(u*S + t) * ps] * w[t], t < KT, u < QS  (sliding window, loads shared).
// Source positions below ZL or from ZR on are known to be zero (the padding at a strip that starts
// or ends at the image's edge): they are neither loaded nor multiplied. Adding a zero product
// leaves a float sum's bits as they were, so the result is the same without them.
template <int KT, int S, int QS, int ZL = 0, int ZR = (QS - 1) * S + KT>
GNAS_INLINE void dw_strip(vf* acc, const float* src, int64_t ps, const vf* w) {
  constexpr int NT = (QS - 1) * S + KT;
#pragma GCC unroll 64
  for (int t = 0; t < NT; ++t) {
    if (t < ZL || t >= ZR) continue;
    const vf xv = load(src + t * ps);
#pragma GCC unroll 8
    for (int j = 0; j < KT; ++j) {
      const int d = t - j;
      if (d >= 0 && d % S == 0 && d / S < QS) acc[d / S] = fmadd(xv, w[j], acc[d / S]);
    }
  }
}

// acc[j] += sum_u dyv[u] * src[(u*S + j) * ps], j < K, u < QS  (weight gradient strip; source
// positions below ZL or from ZR on are zero padding, skipped as in dw_strip)
template <int K, int S, int QS, int ZL = 0, int ZR = (QS - 1) * S + K>
GNAS_INLINE void dww_strip(vf* acc, const float* src, int64_t ps, const vf* dyv) {
  constexpr int NT = (QS - 1) * S + K;
#pragma GCC unroll 64
  for (int t = 0; t < NT; ++t) {
    if (t < ZL || t >= ZR) continue;
    const vf xv = load(src + t * ps);
#pragma GCC unroll 8
    for (int j = 0; j < K; ++j) {
      const int d = t - j;
      if (d >= 0 && d % S == 0 && d / S < QS) acc[j] = fmadd(xv, dyv[d / S], acc[j]);
    }
  }
}

// Copies an NHWC image [Hs][Ws][C] into buf[v][Hp][Wp][L] at offset (oh, ow), zero elsewhere
// (including the lanes past C in the last vector). buf must come from pad_buffer() (a depthwise-
// only workspace slot with room for the border key). With bn, the copied values are activated,
// act(x * scale + shift), and the padding stays zero (padding of the activated tensor). Walks the
// source pixel by pixel (contiguous reads, one store stream per channel vector).
template <int ACT>
static void pad_to_blocked_t(float* buf, const float* src, int Hs, int Ws, int C, int oh, int ow, int Hp,
                             int Wp, const InBn* bn) {
  const int nv = ceil_div(C, L);
  const int ctail = C - (nv - 1) * L;
  const tmask tm = tail_mask(ctail);
  const int64_t plane = int64_t(Hp) * Wp * L;
  const int nfull = ctail < L ? nv - 1 : nv;
  for (int hs = 0; hs < Hs; ++hs) {
    const float* s = src + int64_t(hs) * Ws * C;
    float* d = buf + (int64_t(hs + oh) * Wp + ow) * L;
    for (int w = 0; w < Ws; ++w, s += C, d += L) {
      for (int v = 0; v < nfull; ++v) {
        vf x = load(s + v * L);
        if (ACT >= 0) x = act_apply<(ACT < 0 ? 0 : ACT)>(fmadd(x, load(bn->scale + v * L), load(bn->shift + v * L)));
        store(d + v * plane, x);
      }
      if (nfull < nv) {
        const int v = nv - 1;
        vf x = load(s + v * L, tm);
        if (ACT >= 0) {
          // lanes past C: scale = shift = 0, so they stay act(0) = 0
          x = act_apply<(ACT < 0 ? 0 : ACT)>(fmadd(x, load(bn->scale + v * L), load(bn->shift + v * L)));
        }
        store(d + v * plane, x);
      }
    }
  }
}
// Writes the zero border of a padded buffer, unless the buffer already holds one of this geometry:
// a key records the geometry the border was written for (a buffer that grew comes back zero-filled
// from the workspace, so its key never matches). For 7x7 images with k = 7 the border is 2.4x the
// interior, so this halves the copy's stores.
static void pad_border(float* buf, int Hs, int Ws, int C, int oh, int ow, int Hp, int Wp) {
  const int nv = ceil_div(C, L);
  // the key sits in the 16 floats BEFORE the planes, at the same place for every geometry, so
  // writing one geometry's key always invalidates the others'
  int32_t* key = reinterpret_cast<int32_t*>(buf - 16);
  const int32_t want[8] = {0x5eed, Hp, Wp, nv, oh, ow, Hs, Ws};
  bool same = true;
  for (int i = 0; i < 8; ++i) same = same && key[i] == want[i];
  if (same) return;
  const int64_t plane = int64_t(Hp) * Wp * L;
  for (int v = 0; v < nv; ++v) {
    float* b = buf + v * plane;
    for (int h = 0; h < Hp; ++h) {
      float* row = b + int64_t(h) * Wp * L;
      if (h < oh || h >= oh + Hs) {
        for (int w = 0; w < Wp * L; ++w) row[w] = 0.0f;
      } else {
        for (int w = 0; w < ow * L; ++w) row[w] = 0.0f;
        for (int w = (ow + Ws) * L; w < Wp * L; ++w) row[w] = 0.0f;
      }
    }
  }
  for (int i = 0; i < 8; ++i) key[i] = want[i];
}

static void pad_to_blocked(float* buf, const float* src, int Hs, int Ws, int C, int oh, int ow, int Hp,
                           int Wp, const InBn* bn = nullptr) {
  pad_border(buf, Hs, Ws, C, oh, ow, Hp, Wp);
  switch (bn ? bn->act : -1) {
    case 0: pad_to_blocked_t<0>(buf, src, Hs, Ws, C, oh, ow, Hp, Wp, bn); break;
    case 1: pad_to_blocked_t<1>(buf, src, Hs, Ws, C, oh, ow, Hp, Wp, bn); break;
    case 2: pad_to_blocked_t<2>(buf, src, Hs, Ws, C, oh, ow, Hp, Wp, bn); break;
    case 3: pad_to_blocked_t<3>(buf, src, Hs, Ws, C, oh, ow, Hp, Wp, bn); break;
    default: pad_to_blocked_t<-1>(buf, src, Hs, Ws, C, oh, ow, Hp, Wp, nullptr); break;
  }
}

// A padded-plane buffer: workspace per-thread slot 4 (input) or 5 (dy), used by nothing else, so
// a zero border written for one image is still there for the next (see pad_to_blocked).
static float* pad_buffer(Ctx& ctx, int tid, int which, int C, int Hp, int Wp) {
  return ctx.ws->thread(tid, 4 + which, size_t(ceil_div(C, L)) * Hp * Wp * L + 16) + 16;
}

// A software prefetch spread evenly over the calls of tick(): `bytes` from b, ceil(lines / ticks)
// lines per tick, with __builtin_prefetch's temporal LOCALITY (3: into L1, prefetcht0; 2: into L2,
// prefetcht1).
template <int LOCALITY>
struct SpreadPrefetch {
  const char* p = nullptr;
  const char* end = nullptr;
  int64_t step = 0;  // cache lines per tick
  void init(const void* b, int64_t bytes, int64_t ticks) {
    p = static_cast<const char*>(b);
    end = p + bytes;
    step = ceil_div<int64_t>(bytes / 64 + 1, imax<int64_t>(1, ticks));
  }
  GNAS_INLINE void tick() {
    for (int64_t i = 0; i < step && p < end; ++i, p += 64) __builtin_prefetch(p, 0, LOCALITY);
  }
};
// The next image into L2 while the current one is computed: the copy into the padded buffer then
// reads from L2, and the memory traffic overlaps the FMAs instead of preceding them. The forwards
// tick once per output row and channel vector.
using NextImage = SpreadPrefetch<2>;

// Strip-length dispatch: f.template operator()<QS>() for QS = n (1..8).
#define GNAS_QS_SWITCH(n, CALL) \
  switch (n) {                  \
    case 1: CALL(1); break;     \
    case 2: CALL(2); break;     \
    case 3: CALL(3); break;     \
    case 4: CALL(4); break;     \
    case 5: CALL(5); break;     \
    case 6: CALL(6); break;     \
    case 7: CALL(7); break;     \
    default: CALL(8); break;    \
  }

// Strips of at most 8 outputs, as even as possible (Q = 7 -> 7; 14 -> 7+7; 28 -> 4 x 7).
static int strip_len(int Q) { return ceil_div(Q, ceil_div(Q, 8)); }

// ---------------------------------------------------------------- forward
// The eval-mode epilogue (dwconv_forward_bn_act): acc = act(acc * scale + shift) on the strip's
// channel vector (ob's arrays start at it), the arithmetic of bn_act_apply's pass on the stored
// value, which the float store leaves as it is: the two forms agree bit for bit.
template <int QS>
GNAS_INLINE void dw_strip_bn_act(vf* acc, const InBn& ob) {
  const vf sc = load(ob.scale), sh = load(ob.shift);
#define GNAS_CALL(a)                                                           \
  _Pragma("GCC unroll 8") for (int u = 0; u < QS; ++u) acc[u] = act_apply<a>(fmadd(acc[u], sc, sh))
  GNAS_ACT_SWITCH(ob.act, GNAS_CALL)
#undef GNAS_CALL
}

// A finished output strip: stored (as Out), and its sums and sums of squares added to ssum and
// ssum + sstride for a fused BN, from the float values before any rounding by Out (lanes past C
// are zero: the padded input is zero there).
template <int QS, class Out>
GNAS_INLINE void dw_strip_store(const vf* acc, typename Out::T* out, int64_t ops, bool tail, tmask tm, float* ssum,
                                int64_t sstride) {
  if (tail) {
#pragma GCC unroll 8
    for (int u = 0; u < QS; ++u) Out::st(out + u * ops, acc[u], tm);
  } else {
#pragma GCC unroll 8
    for (int u = 0; u < QS; ++u) Out::st(out + u * ops, acc[u]);
  }
  if (!ssum) return;
  vf s1 = zero(), s2 = zero();
#pragma GCC unroll 8
  for (int u = 0; u < QS; ++u) {
    s1 = add(s1, acc[u]);
    s2 = fmadd(acc[u], acc[u], s2);
  }
  store(ssum, add(load(ssum), s1));
  store(ssum + sstride, add(load(ssum + sstride), s2));
}

// Which edges of the image a strip touches (bit 0: it starts at the left edge; bit 1: it ends at
// the right edge and the image is Q * S wide), so that the padding columns there are skipped at
// compile time (dw_strip's ZL / ZR). On the 7x7 layers the padding is a quarter of a k = 7 row's
// taps (a fifth at k = 5). The float kernels use it for k = 5 and 7; the bfloat16 pair kernel
// (depthwise_bf16_avx512bf16.cpp) for every k.
enum StripEdges { kInterior = 0, kLeftEdge = 1, kRightEdge = 2, kBothEdges = 3 };
static int strip_edges(int q0, int qs, int Q, int S, int W) {
  return (q0 == 0 ? kLeftEdge : 0) | (q0 + qs == Q && W == Q * S ? kRightEdge : 0);
}
// CALL(E) with the StripEdges value e as a compile-time constant.
#define GNAS_EDGES_SWITCH(e, CALL)             \
  switch (e) {                                 \
    case kLeftEdge: CALL(kLeftEdge); break;   \
    case kRightEdge: CALL(kRightEdge); break; \
    case kBothEdges: CALL(kBothEdges); break; \
    default: CALL(kInterior); break;          \
  }
// The window positions of a strip of QS outputs (stride S, K taps, pad K / 2) that read padding
// when the strip touches the image's edges (EDGES): [0, zl) and [zr, end). For dw_strip / dww_strip.
template <int K, int S, int QS, int EDGES>
struct EdgeZeros {
  static constexpr int zl = (EDGES & kLeftEdge) ? K / 2 : 0;
  static constexpr int zr = (EDGES & kRightEdge) ? K / 2 + QS * S : (QS - 1) * S + K;
};
// Kernel rows [i0, i1) of output row p fall inside the image (the others read zero padding).
struct KernelRows {
  int i0, i1;
  KernelRows(int p, int S, int K, int H) : i0(imax(0, K / 2 - p * S)), i1(imin(K, H + K / 2 - p * S)) {}
};

// One output strip y[p][q0 .. q0+QS) for channel vector v: src = padded plane at (p*S, q0*S); only
// kernel rows [rows.i0, rows.i1) are inside the image.
template <int K, int S, int QS, int EDGES>
static void dw_fwd_strip(const float* src, int64_t rs, const float* wv, int64_t wstride, float* out,
                         int64_t ops, bool tail, tmask tm, float* ssum, KernelRows rows, const InBn* ob) {
  using Z = EdgeZeros<K, S, QS, EDGES>;
  vf acc[QS];
#pragma GCC unroll 8
  for (int u = 0; u < QS; ++u) {
    acc[u] = zero();
    // the strip's output lines (one per pixel, a channel stride apart) are fetched while the
    // strip is computed, so the stores at its end do not wait for them (read for ownership):
    // eval-mode predict 3.8% faster, a training step 1.6% (scripts/ab-paired.mjs)
    __builtin_prefetch(out + u * ops, 1, 3);
  }
  // (k = 3: all rows, a loop of constant length; skipping its padding measured slower in a one-off
  // experiment, 0.75-0.95x per op)
  const int i0 = K > 3 ? rows.i0 : 0, i1 = K > 3 ? rows.i1 : K;
  for (int i = i0; i < i1; ++i) {
    vf w[K];
#pragma GCC unroll 8
    for (int j = 0; j < K; ++j) w[j] = load(wv + (i * K + j) * wstride);
    dw_strip<K, S, QS, Z::zl, Z::zr>(acc, src + i * rs, L, w);
  }
  if (ob) dw_strip_bn_act<QS>(acc, *ob);
  dw_strip_store<QS, F32Io>(acc, out, ops, tail, tm, ssum, wstride);
}

template <int K, int S, int EDGES>
static void dw_fwd_strip_qs(int qs, const float* src, int64_t rs, const float* wv, int64_t wstride,
                            float* out, int64_t ops, bool tail, tmask tm, float* ssum, KernelRows rows,
                            const InBn* ob) {
#define GNAS_CALL(n) dw_fwd_strip<K, S, n, EDGES>(src, rs, wv, wstride, out, ops, tail, tm, ssum, rows, ob)
  GNAS_QS_SWITCH(qs, GNAS_CALL)
#undef GNAS_CALL
}

// ssum: null, or 2 x Cp floats (sums, then sums of squares) that receive the image's statistics.
// out_bn: null, or the eval-mode epilogue's folded BN + act (dw_strip_bn_act).
template <int K, int S>
static void dw_fwd_image(const float* buf, int Hp, int Wp, const float* wp, int Cp, float* yn, int P, int Q,
                         int C, float* ssum, NextImage& next, const InBn* out_bn = nullptr) {
  const int nv = Cp / L;
  const int ctail = C - (nv - 1) * L;
  const tmask tm = tail_mask(ctail);
  const int QS = strip_len(Q);
  const int64_t rs = int64_t(Wp) * L;
  for (int v = 0; v < nv; ++v) {
    const float* plane = buf + int64_t(v) * Hp * rs;
    const bool tail = v == nv - 1 && ctail < L;
    InBn obv;
    if (out_bn) obv = InBn{out_bn->scale + v * L, out_bn->shift + v * L, out_bn->act};
    const InBn* ob = out_bn ? &obv : nullptr;
    for (int p = 0; p < P; ++p, next.tick()) {
      const KernelRows rows(p, S, K, Hp - 2 * (K / 2));
      for (int q0 = 0; q0 < Q; q0 += QS) {
        const int qs = imin(QS, Q - q0);
        const float* src = plane + int64_t(p) * S * rs + int64_t(q0) * S * L;
        float* out = yn + (int64_t(p) * Q + q0) * C + v * L;
        float* ss = ssum ? ssum + v * L : nullptr;
#define GNAS_CALL(e) dw_fwd_strip_qs<K, S, e>(qs, src, rs, wp + v * L, Cp, out, C, tail, tm, ss, rows, ob)
        if constexpr (K > 3) {
          GNAS_EDGES_SWITCH(strip_edges(q0, qs, Q, S, Wp - 2 * (K / 2)), GNAS_CALL)
        } else {
          GNAS_CALL(kInterior);  // k = 3 reads its padding (dw_fwd_strip): one form, not four
        }
#undef GNAS_CALL
      }
    }
  }
}

// Weights w[k][k][C] -> wp[k][k][Cp], zero padded to whole vectors.
static float* pack_dw_weights(Ctx& ctx, int slot, const float* w, int k, int C, int Cp) {
  float* wp = ctx.ws->shared(slot, size_t(k) * k * Cp);
  for (int t = 0; t < k * k; ++t)
    for (int c = 0; c < Cp; ++c) wp[t * Cp + c] = c < C ? w[t * C + c] : 0.0f;
  return wp;
}

// The forward's frame, shared with the bfloat16-product forward (depthwise_bf16_avx512bf16.cpp):
// images handed out in contiguous runs (each thread knows its next image, to prefetch it), first
// come, first served; image(tid, n, fs, next) computes image n with its statistics summed into fs
// (2 x Cp floats, zeroed here; null without stats), and the per-chunk sums (kernels.h,
// slot_grain) are reduced in chunk order, in double, into mean and invstd.
template <class ImageFn>
static void dw_forward_images(Ctx& ctx, const ConvShape& s, float* mean, float* invstd, float eps, ImageFn image) {
  const int C = s.C, Cp = ceil_div(C, L) * L;
  const bool stats = mean != nullptr;
  // per-chunk sums (kernels.h, slot_grain)
  const int64_t grain = slot_grain(s.N, imax<int64_t>(1, s.N / (4 * ctx.nthreads)));
  const int nslots = slot_count(s.N, grain);
  double* acc[Workspace::kMaxThreads];
  if (stats)
    for (int t = 0; t < nslots; ++t) {
      acc[t] = reinterpret_cast<double*>(ctx.ws->thread(t, 3, size_t(4) * Cp));
      for (int i = 0; i < 2 * Cp; ++i) acc[t][i] = 0.0;
    }
  parallel_for(*ctx.pool, s.N, grain, [&](int64_t b, int64_t e, int tid) {
    float* fs = stats ? ctx.ws->thread(tid, 2, size_t(2) * Cp) : nullptr;
    for (int64_t n = b; n < e; ++n) {
      if (stats)
        for (int i = 0; i < 2 * Cp; ++i) fs[i] = 0.0f;
      image(tid, n, n + 1 < e, fs);
      if (stats)
        for (int i = 0; i < 2 * Cp; i += L) add_to_double(acc[b / grain] + i, load(fs + i));
    }
  });
  if (stats) {
    const double M = double(s.N) * s.P * s.Q;
    for (int c = 0; c < C; ++c) {
      double sm = 0, sq = 0;
      for (int t = 0; t < nslots; ++t) {
        sm += acc[t][c];
        sq += acc[t][Cp + c];
      }
      const double m = sm / M;
      double var = sq / M - m * m;
      if (var < 0) var = 0;
      mean[c] = float(m);
      invstd[c] = float(1.0 / sqrt(var + double(eps)));
    }
  }
}

// out_bn: null, or the output activated through it in the strips' epilogue (dwconv_forward_bn_act).
template <int K, int S>
static void dwconv_forward_ks(Ctx& ctx, float* y, float* mean, float* invstd, float eps, const float* x,
                              const InBn* bn, const float* w, const ConvShape& s, const InBn* out_bn = nullptr) {
  const int C = s.C, Cp = ceil_div(C, L) * L;
  const int Hp = s.H + 2 * s.pad, Wp = s.W + 2 * s.pad;
  float* wp = pack_dw_weights(ctx, 0, w, K, C, Cp);
  const int64_t HWC = int64_t(s.H) * s.W * C, PQC = int64_t(s.P) * s.Q * C;
  dw_forward_images(ctx, s, mean, invstd, eps, [&](int tid, int64_t n, bool has_next, float* fs) {
    float* buf = pad_buffer(ctx, tid, 0, C, Hp, Wp);
    pad_to_blocked(buf, x + n * HWC, s.H, s.W, C, s.pad, s.pad, Hp, Wp, bn);
    NextImage next;
    if (has_next) next.init(x + (n + 1) * HWC, HWC * int64_t(sizeof(*x)), int64_t(s.P) * (Cp / L));
    dw_fwd_image<K, S>(buf, Hp, Wp, wp, Cp, y + n * PQC, s.P, s.Q, C, fs, next, out_bn);
  });
}

#define GNAS_DW_DISPATCH(FN, ...)                                        \
  switch (s.k * 10 + s.stride) {                                         \
    case 31: FN<3, 1>(__VA_ARGS__); return true;                         \
    case 32: FN<3, 2>(__VA_ARGS__); return true;                         \
    case 51: FN<5, 1>(__VA_ARGS__); return true;                         \
    case 52: FN<5, 2>(__VA_ARGS__); return true;                         \
    case 71: FN<7, 1>(__VA_ARGS__); return true;                         \
    case 72: FN<7, 2>(__VA_ARGS__); return true;                         \
  }

// false: a shape outside k in {3,5,7}, stride in {1,2}, pad == k/2 (the caller falls back).
static bool dwconv_forward_fast(Ctx& ctx, float* y, float* mean, float* invstd, float eps, const float* x,
                                const InBn* bn, const float* w, const ConvShape& s, const InBn* out_bn) {
  if (s.pad != s.k / 2) return false;
  GNAS_DW_DISPATCH(dwconv_forward_ks, ctx, y, mean, invstd, eps, x, bn, w, s, out_bn)
  return false;
}

// Plain loops for any other shape (not used by the search spaces).
static void dwconv_forward_any(float* y, const float* x, const float* w, const ConvShape& s) {
  for (int n = 0; n < s.N; ++n)
    for (int p = 0; p < s.P; ++p)
      for (int q = 0; q < s.Q; ++q) {
        float* yo = y + ((int64_t(n) * s.P + p) * s.Q + q) * s.C;
        for (int c = 0; c < s.C; ++c) yo[c] = 0.0f;
        for (int i = 0; i < s.k; ++i) {
          const int h = p * s.stride - s.pad + i;
          if (h < 0 || h >= s.H) continue;
          for (int j = 0; j < s.k; ++j) {
            const int ww = q * s.stride - s.pad + j;
            if (ww < 0 || ww >= s.W) continue;
            const float* xi = x + ((int64_t(n) * s.H + h) * s.W + ww) * s.C;
            const float* wi = w + (int64_t(i) * s.k + j) * s.C;
            for (int c = 0; c < s.C; ++c) yo[c] += xi[c] * wi[c];
          }
        }
      }
}

// Activates x into workspace shared slot 5 for the plain-loop fallback (shapes outside the fast set).
static const float* dw_activated_copy(Ctx& ctx, const float* x, const InBn* bn, const ConvShape& s) {
  if (!bn) return x;
  const int64_t rows = int64_t(s.N) * s.H * s.W;
  float* a = ctx.ws->shared(5, size_t(rows) * s.C);
  bn_act_rows(a, s.C, x, s.C, rows, s.C, *bn);
  return a;
}

// Backend::dwconv_forward_fused (dwconv_forward: in_bn and mean null); with out_bn,
// Backend::dwconv_forward_bn_act (mean null).
static void dwconv_forward(Ctx& ctx, float* y, float* mean, float* invstd, float eps, const float* x,
                           const BnAct* in_bn, const float* w, const ConvShape& s, const BnAct* out_bn) {
  InBn ib, ob;
  const InBn* bn = make_in_bn(ctx, ib, in_bn, s.C);
  // folded by bn_fold_into, as bn_act_apply's BN is, so the result is that op's, bit for bit
  const InBn* obn = make_in_bn(ctx, ob, out_bn, s.K, /*slot=*/6);
  if (dwconv_forward_fast(ctx, y, mean, invstd, eps, x, bn, w, s, obn)) return;
  dwconv_forward_any(y, dw_activated_copy(ctx, x, bn, s), w, s);
  if (obn) bn_act_rows(y, s.K, y, s.K, int64_t(s.N) * s.P * s.Q, s.K, *obn);
  if (mean) {
    const int64_t M = int64_t(s.N) * s.P * s.Q;
    for (int c = 0; c < s.C; ++c) {
      double sm = 0, sq = 0;
      for (int64_t m = 0; m < M; ++m) {
        const double v = y[m * s.C + c];
        sm += v;
        sq += v * v;
      }
      const double mu = sm / double(M);
      double var = sq / double(M) - mu * mu;
      if (var < 0) var = 0;
      mean[c] = float(mu);
      invstd[c] = float(1.0 / sqrt(var + double(eps)));
    }
  }
}
}  // namespace GNAS_ISA
}  // namespace cpu
}  // namespace gnas
