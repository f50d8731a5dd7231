// The depthwise forward of the bfloat16 scoring forward (Backend::dwconv_forward_fused_bf16) on
// CPUs with AVX512-BF16: bfloat16 products of the activated input and the weights, float sums,
// input and output stored as Bf16Io says. Built with -mavx512bf16 (CMake, by file name) and called
// only after cpu_backend.cpp has checked the CPU for avx512bf16.
//
// Two taps of a kernel row per vdpbf16ps (k = 3, 5, 7). Each thread builds, per image and channel
// vector, a plane of tap pairs: entry (h, w) holds, channel by channel, the bfloat16 pair
// (a(h, w), a(h, w + 1)) of the activated, zero-padded image a. Output u of a row then takes kernel
// row i's taps (2j, 2j + 1) from entry (row, u * S + 2j) against the weight pair (w[i][2j],
// w[i][2j + 1]) (the last pair of an odd k has a zero second weight): ceil(k / 2) dot-product
// instructions per row instead of k FMAs, with the sliding-window load sharing of depthwise.h's
// strips, for two channel vectors at a time (dwp_strip). Only the entries that can be nonzero are
// written per image (the rows of the image, the columns from one left of it); the zero border is
// written once per geometry, as depthwise.h does for its planes.
// k = 3 also pairs its taps (2 instructions per row for 3 FMAs): until 2026-12-07 it ran
// depthwise.h's float forward on inputs and weights rounded to bfloat16, the same products summed
// one at a time, 1.1-1.4x slower on the 28x28 and 14x14 rows (docs/performance.md, "k = 3 on tap
// pairs too").
#define GNAS_ISA_AVX512 1
#include "backends/cpu/kernel_table.h"
#include "backends/cpu/bf16_avx512.h"

namespace gnas {
namespace cpu {
namespace avx512 {

// (a0, b0, a1, b1, ...): the channel pairs of two float vectors, rounded to bfloat16.
static GNAS_INLINE __m512i pair_bf16(vf a, vf b) {
  alignas(64) static const uint16_t kInterleave[32] = {0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,  21, 6,  22, 7,  23,
                                                       8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  const __m512i halves = (__m512i)_mm512_cvtne2ps_pbh(b, a);  // words 0..15: a, 16..31: b
  return _mm512_permutexvar_epi16(_mm512_load_si512(kInterleave), halves);
}

// The pair plane of one image: pb[v][Hp][Wp] (64 bytes an entry), entries of rows pad..pad+H-1,
// columns pad-1..pad+W-1 written; the rest must already be zero (see pair_buffer).
template <int ACT, class In>
static void pairs_to_blocked_t(__m512i* pb, const typename In::T* src, int H, int W, int C, int pad, int Hp, int Wp,
                               const InBn* bn) {
  const int nv = ceil_div(C, L), ctail = C - (nv - 1) * L;
  const tmask tm = tail_mask(ctail);
  for (int v = 0; v < nv; ++v) {
    const bool tail = v == nv - 1 && ctail < L;
    // scale and shift are zero past C, and act(0) = 0: the lanes past C stay zero
    const vf sc = ACT >= 0 ? load(bn->scale + v * L) : zero();
    const vf sh = ACT >= 0 ? load(bn->shift + v * L) : zero();
    __m512i* plane = pb + int64_t(v) * Hp * Wp;
    for (int h = 0; h < H; ++h) {
      const typename In::T* s = src + int64_t(h) * W * C + v * L;
      __m512i* row = plane + int64_t(h + pad) * Wp + pad - 1;
      vf prev = zero();
      for (int w = 0; w < W; ++w) {
        vf x = tail ? In::ld(s + int64_t(w) * C, tm) : In::ld(s + int64_t(w) * C);
        if (ACT >= 0) x = act_apply<(ACT < 0 ? 0 : ACT)>(fmadd(x, sc, sh));
        _mm512_store_si512(row + w, pair_bf16(prev, x));
        prev = x;
      }
      _mm512_store_si512(row + W, pair_bf16(prev, zero()));
    }
  }
}
template <class In>
static void pairs_to_blocked(__m512i* pb, const typename In::T* src, int H, int W, int C, int pad, int Hp, int Wp,
                             const InBn* bn) {
  switch (bn ? bn->act : -1) {
    case 0: pairs_to_blocked_t<0, In>(pb, src, H, W, C, pad, Hp, Wp, bn); break;
    case 1: pairs_to_blocked_t<1, In>(pb, src, H, W, C, pad, Hp, Wp, bn); break;
    case 2: pairs_to_blocked_t<2, In>(pb, src, H, W, C, pad, Hp, Wp, bn); break;
    case 3: pairs_to_blocked_t<3, In>(pb, src, H, W, C, pad, Hp, Wp, bn); break;
    default: pairs_to_blocked_t<-1, In>(pb, src, H, W, C, pad, Hp, Wp, nullptr); break;
  }
}

// A thread's pair plane (its own workspace slot 8, used by nothing else): zeroed, with a key of
// the geometry in the 64 bytes before it, whenever the geometry changes; otherwise as the last
// image left it, whose writes covered exactly the entries this image writes.
static __m512i* pair_buffer(Ctx& ctx, int tid, int nv, int Hp, int Wp, int pad) {
  const size_t entries = size_t(nv) * Hp * Wp;
  float* base = ctx.ws->thread(tid, 8, entries * L + L);
  int32_t* key = reinterpret_cast<int32_t*>(base);
  const int32_t want[5] = {0x9a1d, nv, Hp, Wp, pad};
  bool same = true;
  for (int i = 0; i < 5; ++i) same = same && key[i] == want[i];
  __m512i* pb = reinterpret_cast<__m512i*>(base + L);
  if (!same) {
    for (size_t i = 0; i < entries; ++i) _mm512_store_si512(pb + i, _mm512_setzero_si512());
    for (int i = 0; i < 5; ++i) key[i] = want[i];
  }
  return pb;
}

// Weight pairs wv[i][j][v] (64 bytes each): channel c of vector v holds (w[i][2j][c], w[i][2j+1][c])
// in bfloat16, zero past C and past k.
static const __m512i* pack_pair_weights(Ctx& ctx, const float* w, int k, int C, int nv) {
  const int kp = (k + 1) / 2;
  bf16* wv = reinterpret_cast<bf16*>(ctx.ws->shared(0, size_t(k) * kp * nv * L));
  for (int i = 0; i < k; ++i)
    for (int j = 0; j < kp; ++j)
      for (int v = 0; v < nv; ++v) {
        bf16* d = wv + ((int64_t(i) * kp + j) * nv + v) * 2 * L;
        for (int l = 0; l < L; ++l) {
          const int c = v * L + l;
          const int t0 = 2 * j, t1 = 2 * j + 1;
          d[2 * l] = c < C ? to_bf16(w[(int64_t(i) * k + t0) * C + c]) : bf16(0);
          d[2 * l + 1] = (c < C && t1 < k) ? to_bf16(w[(int64_t(i) * k + t1) * C + c]) : bf16(0);
        }
      }
  return reinterpret_cast<const __m512i*>(wv);
}

// One output strip y[p][q0 .. q0+QS) of VB channel vectors v, v + 1 (VB <= 2): src = vector v's
// pair plane at (p*S, q0*S) (the next vector's plane vs entries on), wv = the weight pairs of vector
// v (stride nv between pairs, the next vector's one entry on). As depthwise.h's dw_fwd_strip, only
// the kernel rows inside the image and, at an edge of the image (EDGES), only the entries that are
// not wholly padding are taken (an entry pairs columns c and c + 1). Two vectors at once because a
// vdpbf16ps waits on the sum it adds to: with one vector's QS <= 7 sums in flight the 7x7 k5
// strips ran at about a third of two per cycle (perf's time share against the instructions they
// issue, one thread), and two vectors read 1.06-1.43x (docs/performance.md, "two channel vectors per strip"). Each sum still takes
// its terms in the same order, so VB changes no bits. tail: the last of the VB vectors ends past C.
template <int K, int S, int QS, int EDGES, int VB, class Out>
static void dwp_strip(const __m512i* src, int64_t rs, int64_t vs, const __m512i* wv, int nv, typename Out::T* out,
                      int64_t ops, bool tail, tmask tm, float* ssum, int64_t sstride, KernelRows rows) {
  constexpr int KP = (K + 1) / 2;
  constexpr int NT = (QS - 1) * S + 2 * (KP - 1) + 1;
  constexpr int ZL = (EDGES & kLeftEdge) ? K / 2 - 1 : 0;
  constexpr int ZR = (EDGES & kRightEdge) ? K / 2 + QS * S : NT;
  vf acc[VB][QS];
#pragma GCC unroll 2
  for (int b = 0; b < VB; ++b)
#pragma GCC unroll 8
    for (int u = 0; u < QS; ++u) {
      acc[b][u] = zero();
      __builtin_prefetch(out + b * L + u * ops, 1, 3);  // see dw_fwd_strip
    }
  for (int i = rows.i0; i < rows.i1; ++i) {
    __m512bh w[VB][KP];
#pragma GCC unroll 2
    for (int b = 0; b < VB; ++b)
#pragma GCC unroll 4
      for (int j = 0; j < KP; ++j) w[b][j] = (__m512bh)_mm512_load_si512(wv + b + (int64_t(i) * KP + j) * nv);
    const __m512i* row = src + i * rs;
#pragma GCC unroll 32
    for (int t = 0; t < NT; ++t) {
      if (t < ZL || t >= ZR) continue;
#pragma GCC unroll 2
      for (int b = 0; b < VB; ++b) {
        const __m512bh xv = (__m512bh)_mm512_load_si512(row + b * vs + t);
#pragma GCC unroll 4
        for (int j = 0; j < KP; ++j) {
          const int d = t - 2 * j;
          if (d >= 0 && d % S == 0 && d / S < QS) acc[b][d / S] = _mm512_dpbf16_ps(acc[b][d / S], xv, w[b][j]);
        }
      }
    }
  }
#pragma GCC unroll 2
  for (int b = 0; b < VB; ++b)
    dw_strip_store<QS, Out>(acc[b], out + b * L, ops, tail && b == VB - 1, tm, ssum ? ssum + b * L : nullptr,
                            sstride);
}

template <int K, int S, int EDGES, int VB, class Out>
static void dwp_strip_qs(int qs, const __m512i* src, int64_t rs, int64_t vs, const __m512i* wv, int nv,
                         typename Out::T* out, int64_t ops, bool tail, tmask tm, float* ssum, int64_t sstride,
                         KernelRows rows) {
#define GNAS_CALL(m) dwp_strip<K, S, m, EDGES, VB, Out>(src, rs, vs, wv, nv, out, ops, tail, tm, ssum, sstride, rows)
  GNAS_QS_SWITCH(qs, GNAS_CALL)
#undef GNAS_CALL
}

template <int K, int S, class In, class Out>
static void dwconv_forward_pairs(Ctx& ctx, typename Out::T* y, float* mean, float* invstd, float eps,
                                 const typename In::T* x, const InBn* bn, const float* w, const ConvShape& s) {
  const int C = s.C, nv = ceil_div(C, L), Cp = nv * L;
  const int Hp = s.H + 2 * s.pad, Wp = s.W + 2 * s.pad;
  const __m512i* wv = pack_pair_weights(ctx, w, K, C, nv);
  const int64_t HWC = int64_t(s.H) * s.W * C, PQC = int64_t(s.P) * s.Q * C;
  const int ctail = C - (nv - 1) * L;
  const tmask tm = tail_mask(ctail);
  const int QS = strip_len(s.Q);
  dw_forward_images(ctx, s, mean, invstd, eps, [&](int tid, int64_t n, bool has_next, float* fs) {
    __m512i* pb = pair_buffer(ctx, tid, nv, Hp, Wp, s.pad);
    pairs_to_blocked<In>(pb, x + n * HWC, s.H, s.W, C, s.pad, Hp, Wp, bn);
    NextImage next;
    if (has_next) next.init(x + (n + 1) * HWC, HWC * int64_t(sizeof(*x)), int64_t(s.P) * nv);
    typename Out::T* yn = y + n * PQC;
    const int64_t vs = int64_t(Hp) * Wp;
    for (int v = 0; v < nv; v += 2) {
      const __m512i* plane = pb + v * vs;
      const bool two = v + 1 < nv;
      const bool tail = v + (two ? 1 : 0) == nv - 1 && ctail < L;
      for (int p = 0; p < s.P; ++p, next.tick()) {
        if (two) next.tick();  // the read-ahead is spread over rows of single vectors
        const KernelRows rows(p, S, K, s.H);
        for (int q0 = 0; q0 < s.Q; q0 += QS) {
          const int qs = imin(QS, s.Q - q0);
          const __m512i* src = plane + int64_t(p) * S * Wp + int64_t(q0) * S;
          typename Out::T* out = yn + (int64_t(p) * s.Q + q0) * C + v * L;
          float* ss = fs ? fs + v * L : nullptr;
#define GNAS_CALL(e)                                                                                        \
  if (two)                                                                                                 \
    dwp_strip_qs<K, S, e, 2, Out>(qs, src, Wp, vs, wv + v, nv, out, C, tail, tm, ss, Cp, rows);            \
  else                                                                                                     \
    dwp_strip_qs<K, S, e, 1, Out>(qs, src, Wp, vs, wv + v, nv, out, C, tail, tm, ss, Cp, rows)
          const int edges = strip_edges(q0, qs, s.Q, S, s.W);
          if constexpr (K == 3) {
            // k = 3 skips no entry at the left edge (its first pair holds column 0) and at stride 2
            // none at the right: only the stride-1 right edge has a form of its own (the same
            // entries as the four-way switch would take, a quarter of the instances)
            if (S == 1 && (edges & kRightEdge)) {
              GNAS_CALL(kRightEdge);
            } else {
              GNAS_CALL(kInterior);
            }
          } else {
            GNAS_EDGES_SWITCH(edges, GNAS_CALL)
          }
#undef GNAS_CALL
        }
      }
    }
  });
}

template <class In, class Out>
static bool dw_forward_bf16(Ctx& ctx, void* y, float* mean, float* invstd, float eps, const void* x, const InBn* bn,
                            const float* w, const ConvShape& s) {
  typename Out::T* yo = static_cast<typename Out::T*>(y);
  const typename In::T* xi = static_cast<const typename In::T*>(x);
  switch (s.k * 10 + s.stride) {
    case 31: dwconv_forward_pairs<3, 1, In, Out>(ctx, yo, mean, invstd, eps, xi, bn, w, s); return true;
    case 32: dwconv_forward_pairs<3, 2, In, Out>(ctx, yo, mean, invstd, eps, xi, bn, w, s); return true;
    case 51: dwconv_forward_pairs<5, 1, In, Out>(ctx, yo, mean, invstd, eps, xi, bn, w, s); return true;
    case 52: dwconv_forward_pairs<5, 2, In, Out>(ctx, yo, mean, invstd, eps, xi, bn, w, s); return true;
    case 71: dwconv_forward_pairs<7, 1, In, Out>(ctx, yo, mean, invstd, eps, xi, bn, w, s); return true;
    case 72: dwconv_forward_pairs<7, 2, In, Out>(ctx, yo, mean, invstd, eps, xi, bn, w, s); return true;
  }
  return false;
}

}  // namespace avx512

bool dwconv_forward_bf16(Ctx& ctx, float* y, float* mean, float* invstd, float eps, const float* x,
                         const BnAct* in_bn, const float* w, const ConvShape& s, Bf16Io io) {
  if (s.pad != s.k / 2 || s.C != s.K) return false;
  if (!((s.k == 3 || s.k == 5 || s.k == 7) && (s.stride == 1 || s.stride == 2))) return false;
  avx512::InBn ib;
  const avx512::InBn* bn = avx512::make_in_bn(ctx, ib, in_bn, s.C);
  using avx512::Bf16Store;
  using avx512::F32Io;
  if (io.in && io.out) return avx512::dw_forward_bf16<Bf16Store, Bf16Store>(ctx, y, mean, invstd, eps, x, bn, w, s);
  if (io.in) return avx512::dw_forward_bf16<Bf16Store, F32Io>(ctx, y, mean, invstd, eps, x, bn, w, s);
  if (io.out) return avx512::dw_forward_bf16<F32Io, Bf16Store>(ctx, y, mean, invstd, eps, x, bn, w, s);
  return avx512::dw_forward_bf16<F32Io, F32Io>(ctx, y, mean, invstd, eps, x, bn, w, s);
}

}  // namespace cpu
}  // namespace gnas
