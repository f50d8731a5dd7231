// Depthwise k x k convolution backward (k = 3/5/7, stride 1/2, pad k/2), vectorised over channels,
// on depthwise.h's padded channel-blocked planes and strip kernels.
//
//   dx: a transposed convolution. With stride s, dx[h][s*u + r] only receives taps j == (r + pad)
//       mod s, from dy columns u + const, so for each output parity r it is again a stride-1
//       sliding-window strip over the zero-padded dy plane, with the kernel row's taps reversed
//       (and for s = 2, every other tap). Same dw_strip kernel, no zero-stuffing waste. The tap
//       structure of each (row, parity) is planned once per call (DxPlan); strips run up to 14
//       outputs, since with 1-4 taps per output a short strip is all call overhead.
//   dw: per channel vector and group of kernel rows (dww_group_rows), the group's sums are
//       registers and a strip of dy values is loaded once for the whole group; per-chunk partial
//       sums (chunks of several images: kernels.h, slot_grain), reduced in chunk order at the
//       end.
//
// Fusions (Backend::dwconv_backward_fused): dy can arrive as the gradient of the unit's activated
// output (out_bn): the image's dy goes through the BN's input-gradient formula on its way into the
// padded buffer (pad_dy_bn_t); dx is computed from that plane alone, row by row; each finished row
// of dx goes on, while in L1, to the pass that reads the same row of x into its plane and takes the
// input BN's parameter-gradient sums against it (pad_x_sums_t), so x is read once. Where the
// operands exceed the last-level cache, each row of dx is made in a row buffer and streamed out
// (copy_streaming: no read for ownership). The passes reading dy and x from memory prefetch ahead
// (prefetch_ahead).
// Work is split by images (N = 128 in training gives each thread dozens).
#pragma once

namespace gnas {
namespace cpu {
namespace GNAS_ISA {

// The backward's two copies into padded planes, each fused with the pass it used to need apart.
//
// dy through the unit's BN backward (out_bn) straight into the padded dy plane: bn_bwd_apply's
// arithmetic (bn_bwd_dx_vec), without its per-image buffer.
template <int ACT>
static void pad_dy_bn_t(float* buf, const float* dy, const float* z, int Hs, int Ws, int oh, int ow, int Hp, int Wp,
                        const BnBwd& b) {
  const ChanLayout& cl = b.cl;
  const int64_t plane = int64_t(Hp) * Wp * L;
  for (int hs = 0; hs < Hs; ++hs) {
    float* d = buf + (int64_t(hs + oh) * Wp + ow) * L;
    for (int w = 0; w < Ws; ++w, d += L) {
      const int64_t px = (int64_t(hs) * Ws + w) * cl.C;
      for (int v = 0; v < cl.nv; ++v) {
        prefetch_ahead(dy + px + v * L);
        prefetch_ahead(z + px + v * L);
        store(d + v * plane,
              bn_bwd_dx_vec<ACT>(cl.ld(z + px, v), cl.ld(dy + px, v), v, b.scale, b.shift, b.mean, b.k1, b.k2, b.k3));
      }
    }
  }
}

// Image row hs of x through the input BN into the padded x plane, and in the same pass over x the
// input BN's parameter-gradient sums from that row's finished dx (gx, in cache): bn_act_sums_rows,
// which adds them as the separate pass that reread x did; called for rows 0, 1, ... in order (acc,
// 2 x Cp floats of scratch, carries the open block of sums from row to row).
template <int ACT>
static void pad_x_sums_t(float* buf, const float* x, const float* gx, int hs, int Hs, int Ws, int oh, int ow, int Hp,
                         int Wp, const ChanLayout& cl, const InBn& bn, const float* mean, double* ds, double* dsx,
                         float* acc) {
  float* row = buf + (int64_t(hs + oh) * Wp + ow) * L;
  auto dst = [&](int64_t w) { return row + w * L; };
  bn_act_sums_rows<ACT>(dst, int64_t(Hp) * Wp * L, false, x, gx, int64_t(hs) * Ws, int64_t(hs + 1) * Ws,
                        int64_t(Hs) * Ws, cl, bn.scale, bn.shift, mean, ds, dsx, acc);
}

// dx strip: acc[u] = sum over the row taps r of a KT-tap window of dy row (base + roff[r]) against
// weight taps (wbase + woff[r] + t * wstep).
template <int KT, int QS, int EDGES = kInterior>
static void dw_dx_strip(const float* base, const int64_t* roff, const float* wbase, const int64_t* woff, int nrows,
                        int64_t src_off, int64_t wstep, float* out, int64_t ops, bool tail, tmask tm) {
  // stride 1 (dw_dx_strip_at): the window under output u covers dy columns u - pad .. u + pad, the
  // same geometry as a stride-1 forward strip's
  using Z = EdgeZeros<KT, 1, QS, EDGES>;
  vf acc[QS];
#pragma GCC unroll 16
  for (int u = 0; u < QS; ++u) acc[u] = zero();
  for (int r = 0; r < nrows; ++r) {
    vf w[KT];
#pragma GCC unroll 8
    for (int t = 0; t < KT; ++t) w[t] = load(wbase + woff[r] + t * wstep);
    dw_strip<KT, 1, QS, Z::zl, Z::zr>(acc, base + roff[r] + src_off, L, w);
  }
  if (tail) {
#pragma GCC unroll 16
    for (int u = 0; u < QS; ++u) store(out + u * ops, acc[u], tm);
  } else {
#pragma GCC unroll 16
    for (int u = 0; u < QS; ++u) store(out + u * ops, acc[u]);
  }
}

// Up to 14 outputs per strip when the register file allows (dx strips have few taps per output,
// so a longer strip is what amortises the per-call overhead).
constexpr int kDxStripMax = kVecRegs >= 32 ? 14 : 8;
// (One flat switch: built on GNAS_QS_SWITCH for n <= 8 plus a second switch, the stride-2
// backward's k5 / k7 rows read 0.93-0.95x, fastest of 8 ABBA rounds.)
#define GNAS_QS_SWITCH14(n, CALL) \
  switch (n) {                    \
    case 1: CALL(1); break;       \
    case 2: CALL(2); break;       \
    case 3: CALL(3); break;       \
    case 4: CALL(4); break;       \
    case 5: CALL(5); break;       \
    case 6: CALL(6); break;       \
    case 7: CALL(7); break;       \
    case 8: CALL(8); break;       \
    case 9: CALL(9); break;       \
    case 10: CALL(10); break;     \
    case 11: CALL(11); break;     \
    case 12: CALL(12); break;     \
    case 13: CALL(13); break;     \
    default: CALL(14); break;     \
  }

// The transposed-conv structure of one dx row h and output parity r (the same for every image
// and channel vector, so it is planned once per call): which dy rows and kernel rows meet, the
// number of column taps, where the window starts, how many outputs.
struct DxPlan {
  int nrows, KT, U;
  int64_t start;     // first dy column (padded) under output u = 0
  int64_t roff[7];   // dy row offsets in the padded plane
  int64_t woff[7];   // weight offset of tap t' = 0 of each row
};

// One strip of dx_row, with the edges of the image it touches skipped (EDGE_SKIP: stride 1, k > 3,
// where the plan's window for output u starts pad columns left of it).
template <int KT, int EDGES>
static void dw_dx_strip_qs(const DxPlan& pl, int u0, int qs, const float* base, const float* wbase, int64_t wstep,
                           float* out, int64_t ops, bool tail, tmask tm) {
#define GNAS_CALL(n) \
  dw_dx_strip<KT, n, EDGES>(base, pl.roff, wbase, pl.woff, pl.nrows, (pl.start + u0) * L, wstep, out + u0 * ops, ops, tail, tm)
  if constexpr (kDxStripMax > 8) {
    GNAS_QS_SWITCH14(qs, GNAS_CALL)
  } else {
    GNAS_QS_SWITCH(qs, GNAS_CALL)
  }
#undef GNAS_CALL
}
// One strip of dx_row, with the edges of the image it touches skipped (EDGE_SKIP: stride 1, k > 3,
// where the plan's window for output u starts pad columns left of it).
template <int KT, bool EDGE_SKIP>
static void dw_dx_strip_at(const DxPlan& pl, int u0, int qs, const float* base, const float* wbase, int64_t wstep,
                           float* out, int64_t ops, bool tail, tmask tm) {
  const int e = EDGE_SKIP ? (u0 == 0 ? kLeftEdge : 0) | (u0 + qs == pl.U ? kRightEdge : 0) : kInterior;
#define GNAS_CALL(E) dw_dx_strip_qs<KT, E>(pl, u0, qs, base, wbase, wstep, out, ops, tail, tm)
  if constexpr (EDGE_SKIP) {
    GNAS_EDGES_SWITCH(e, GNAS_CALL)
  } else {
    GNAS_CALL(kInterior);
  }
#undef GNAS_CALL
}

template <int KT, bool EDGE_SKIP = false>
static void dw_dx_row(const DxPlan& pl, const float* base, const float* wbase, int64_t wstep, float* out, int64_t ops,
                      bool tail, tmask tm) {
  const int U = pl.U;
  if (pl.nrows == 0) {
    for (int u = 0; u < U; ++u) {
      if (tail) store(out + u * ops, zero(), tm); else store(out + u * ops, zero());
    }
    return;
  }
  const int QS = ceil_div(U, ceil_div(U, kDxStripMax));
  for (int u0 = 0; u0 < U; u0 += QS)
    dw_dx_strip_at<KT, EDGE_SKIP>(pl, u0, imin(QS, U - u0), base, wbase, wstep, out, ops, tail, tm);
}

// Weight gradient, one image, channel vector by channel vector, kernel rows in groups of NG:
// acc[g][j] = sum_{p,q} dy[p][q] * x[p*S + i0 + g][q*S + j]. A strip of dy values is loaded once
// for the group's NG rows, and the NG * K sums are independent chains: one kernel row at a time
// (as before) gave K chains, too few to keep the FMA pipes busy (each sum waits on the last FMA
// into it), and loaded each dy value K times. Every sum still takes its terms in the order of
// one row at a time (p, then the strip, then the tap), so the result is the same, bit for bit.
// Products with the zero padding of x are skipped (for k = 5 and 7: at 7x7 they are ~43% of a
// k = 7 kernel's): the rows above and below the image (rows: the group's rows that are inside),
// and at the image's left and right edges the taps that EdgeZeros lists (see dw_strip).
// Groups: NG * K sums + a strip of dy values (up to 8) + one x value fit 32 vector registers. For
// k = 7 the 7 sums of a row are chains enough, and pairs of rows read 0.89-0.97x on the 28x28
// stride-2 layer (gnas_op_bench, two builds in alternation); k = 5 in pairs read 0.97-1.08x.
template <int K> constexpr int dww_group_rows() { return kVecRegs < 32 ? 1 : K == 3 ? 3 : K == 5 ? 2 : 1; }
template <int K, int S, int NG, int QS, int EDGES>
GNAS_INLINE void dww_group_strip(vf* acc, const float* x0, int64_t xrs, const float* dyrow, int q0, unsigned rows) {
  using Z = EdgeZeros<K, S, QS, EDGES>;
  constexpr int NT = (QS - 1) * S + K;
  constexpr unsigned kAll = (1u << NG) - 1;
  vf d[QS];
#pragma GCC unroll 8
  for (int u = 0; u < QS; ++u) d[u] = load(dyrow + (q0 + u) * L);
  const float* src = x0 + int64_t(q0) * S * L;
  if (rows == kAll) {
#pragma GCC unroll 64
    for (int t = 0; t < NT; ++t) {
      if (t < Z::zl || t >= Z::zr) continue;
#pragma GCC unroll 4
      for (int g = 0; g < NG; ++g) {
        const vf xv = load(src + g * xrs + t * L);
#pragma GCC unroll 8
        for (int j = 0; j < K; ++j) {
          const int e = t - j;
          if (e >= 0 && e % S == 0 && e / S < QS) acc[g * K + j] = fmadd(xv, d[e / S], acc[g * K + j]);
        }
      }
    }
    return;
  }
  // a row of the group above or below the image (k > 3 only)
#pragma GCC unroll 4
  for (int g = 0; g < NG; ++g) {
    if (!((rows >> g) & 1u)) continue;
    dww_strip<K, S, QS, Z::zl, Z::zr>(acc + g * K, src + g * xrs, L, d);
  }
}
template <int K, int S, int NG, int EDGES>
GNAS_INLINE void dww_group_strip_qs(int qs, vf* acc, const float* x0, int64_t xrs, const float* dyrow, int q0,
                                    unsigned rows) {
#define GNAS_CALL(n) dww_group_strip<K, S, NG, n, EDGES>(acc, x0, xrs, dyrow, q0, rows)
  GNAS_QS_SWITCH(qs, GNAS_CALL)
#undef GNAS_CALL
}
// One group's sums over the image. Not inlined: with the strips inlined into this loop the sums
// stay in registers from the first row to the last; inlined further, into the whole backward, the
// compiler kept them on the stack and a k = 7 backward read 0.8-0.9x.
template <int K, int S, int NG>
__attribute__((noinline)) static void dw_dw_group(const float* xpl, int64_t xrs, int H, int W, const float* dpl,
                                                 int64_t drs, int P, int Q, int i0, float* pr, int Cp) {
  const int QS = strip_len(Q);
  vf acc[NG * K];
#pragma GCC unroll 32
  for (int a = 0; a < NG * K; ++a) acc[a] = zero();
  for (int p = 0; p < P; ++p) {
    unsigned rows = 0;
    for (int g = 0; g < NG; ++g) {
      const int row = p * S + i0 + g;  // in the padded plane
      if (K == 3 || (row >= K / 2 && row < K / 2 + H)) rows |= 1u << g;
    }
    if (rows == 0) continue;
    const float* x0 = xpl + int64_t(p * S + i0) * xrs;
    const float* dyrow = dpl + int64_t(p) * drs;
    for (int q0 = 0; q0 < Q; q0 += QS) {
      const int qs = imin(QS, Q - q0);
#define GNAS_CALL(e) dww_group_strip_qs<K, S, NG, e>(qs, acc, x0, xrs, dyrow, q0, rows)
      GNAS_EDGES_SWITCH(K > 3 ? strip_edges(q0, qs, Q, S, W) : kInterior, GNAS_CALL)
#undef GNAS_CALL
    }
  }
#pragma GCC unroll 4
  for (int g = 0; g < NG; ++g) {
    float* row = pr + int64_t(i0 + g) * K * Cp;
#pragma GCC unroll 8
    for (int j = 0; j < K; ++j) store(row + j * Cp, add(load(row + j * Cp), acc[g * K + j]));
  }
}

// The image's weight gradient into the thread's partials. (A read-ahead of the next image's dy and
// saved conv output into L2 during it, where dx streams, read 1.03-1.12x when added on a Zen 5 VM
// in separate runs, and 0.96-0.98x later in alternating calls of one process: removed,
// docs/performance.md.)
template <int K, int S>
static void dw_dw_image(const float* xbuf, int Hp, int Wp, const float* dybuf, int Pp, int Qp, int off, int P, int Q,
                        int nv, float* part, int Cp) {
  constexpr int NG = dww_group_rows<K>();
  const int H = Hp - 2 * (K / 2), W = Wp - 2 * (K / 2);
  const int64_t xrs = int64_t(Wp) * L, drs = int64_t(Qp) * L;
  for (int v = 0; v < nv; ++v) {
    const float* xpl = xbuf + int64_t(v) * Hp * xrs;
    const float* dpl = dybuf + int64_t(v) * Pp * drs + int64_t(off) * drs + int64_t(off) * L;
    float* pr = part + v * L;
    for (int i0 = 0; i0 < K; i0 += NG) {
      switch (imin(NG, K - i0)) {
        case 1: dw_dw_group<K, S, 1>(xpl, xrs, H, W, dpl, drs, P, Q, i0, pr, Cp); break;
        case 2: dw_dw_group<K, S, (NG >= 2 ? 2 : 1)>(xpl, xrs, H, W, dpl, drs, P, Q, i0, pr, Cp); break;
        default: dw_dw_group<K, S, NG>(xpl, xrs, H, W, dpl, drs, P, Q, i0, pr, Cp); break;
      }
    }
  }
}

template <int K, int S>
static void dwconv_backward_ks(Ctx& ctx, float* dx, float* dw, const float* dy, const float* x, const InBn* bn,
                               const float* w, const ConvShape& s, const BnBwd* ob, InBnSums* sums) {
  const int C = s.C, Cp = ceil_div(C, L) * L, nv = Cp / L;
  const int ctail = C - (nv - 1) * L;
  const tmask tm = tail_mask(ctail);
  const int pad = s.pad, H = s.H, W = s.W, P = s.P, Q = s.Q;
  const int Hp = H + 2 * pad, Wp = W + 2 * pad;
  // dy plane padded by `off` on every side: enough for every tap of the transposed conv
  const int off = K / 2 + 1;
  const int Pp = P + 2 * off, Qp = Q + 2 * off;
  const float* wp = pack_dw_weights(ctx, 0, w, K, C, Cp);
  const int64_t HWC = int64_t(H) * W * C, PQC = int64_t(P) * Q * C;
  const int64_t wsize = int64_t(K) * K * Cp;
  // per-chunk dW partials and input-BN sums (kernels.h, slot_grain): chunks of several images, so
  // that there are few partials to zero and add up, yet enough for a free thread to take over
  const int64_t grain = slot_grain(s.N, imax(1, s.N / (8 * ctx.nthreads)));
  const int nslots = slot_count(s.N, grain);
  float* part[Workspace::kMaxThreads];  // zeroed by the chunk's thread as it starts
  for (int t = 0; t < nslots; ++t) part[t] = ctx.ws->thread(t, 2, size_t(wsize));
  if (sums) sums->reserve(ctx, nslots);
  // dx plan per (output row h, column parity r), shared by all images and channel vectors
  const int64_t drs = int64_t(Qp) * L, dplane = int64_t(Pp) * drs;
  const int64_t wstep = -int64_t(S) * Cp, ops = int64_t(S) * C;
  DxPlan* plan = reinterpret_cast<DxPlan*>(ctx.ws->shared(1, (size_t(H) * S * sizeof(DxPlan) + 3) / 4));
  if (dx)
    for (int h = 0; h < H; ++h) {
      // row taps i == (h + pad) mod S, from dy row p = (h + pad - i) / S
      int64_t roff[K];
      int ti[K], nrows = 0;
      for (int i = (h + pad) % S; i < K; i += S) {
        const int p = (h + pad - i) / S;
        if (p < 0 || p >= P) continue;  // zero rows contribute nothing
        roff[nrows] = int64_t(p + off) * drs;
        ti[nrows++] = i;
      }
      for (int r = 0; r < S; ++r) {
        // outputs w = S*u + r take taps j = j0 + S*t from dy column u + (r + pad - j) / S; listed
        // in increasing source column t' = KT-1-t, i.e. j = j0 + S*(KT-1-t'), weight step -S
        DxPlan& pl = plan[h * S + r];
        pl.U = ceil_div(W - r, S);
        const int j0 = (r + pad) % S;
        pl.KT = ceil_div(K - j0, S);
        pl.start = (r + pad - j0) / S - (pl.KT - 1) + off;
        pl.nrows = nrows;
        for (int rr = 0; rr < nrows; ++rr) {
          pl.roff[rr] = roff[rr];
          pl.woff[rr] = (int64_t(ti[rr]) * K + j0 + S * (pl.KT - 1)) * Cp;
        }
      }
    }
  // Written straight into dx, each store of one channel vector finds its line missing (NHWC: a
  // pixel's channel vectors are written one strip pass apart) and reads it from memory first;
  // where dx alone is too large for the last-level cache (so it leaves it before the expand conv's
  // backward rereads it), dx is made row by row in cache and streamed out, and costs its write
  // only. (Counting all operands, as before, streamed the 7x7 and 14x14 layers' dx too, which on
  // a Zen 5 VM made those 5-12% slower: docs/performance.md.)
  const bool stream_dx = dx && int64_t(sizeof(float)) * s.N * HWC > ctx.stream_min_bytes;
  parallel_for(*ctx.pool, s.N, grain, [&](int64_t b, int64_t e, int tid) {
    const int slot = int(b / grain);
    float* xbuf = pad_buffer(ctx, tid, 0, C, Hp, Wp);
    float* dybuf = pad_buffer(ctx, tid, 1, C, Pp, Qp);
    float* sacc = sums ? ctx.ws->thread(tid, 6, size_t(2) * Cp) : nullptr;
    // with streamed dx, each row of dx is made in this buffer (in L1), then streamed out
    float* rowbuf = stream_dx ? ctx.ws->thread(tid, 3, size_t(W) * C) : nullptr;
    float* pr = part[slot];
    for (int64_t i = 0; i < wsize; ++i) pr[i] = 0.0f;
    for (int64_t n = b; n < e; ++n) {
      // dy plane first (through the unit's BN when fused), then dx from it alone, so that x is
      // read once: into its plane and, with the input BN's sums, against the finished dx rows
      if (ob) {
        pad_border(dybuf, P, Q, C, off, off, Pp, Qp);
#define GNAS_CALL(a) pad_dy_bn_t<a>(dybuf, dy + n * PQC, ob->x + n * PQC, P, Q, off, off, Pp, Qp, *ob)
        GNAS_ACT_SWITCH(ob->act, GNAS_CALL)
#undef GNAS_CALL
      } else {
        pad_to_blocked(dybuf, dy + n * PQC, P, Q, C, off, off, Pp, Qp);
      }
      // dx row by row (row-major over the row: all channel vectors of a strip position before the
      // next, so dx is written in address order, which on the 28x28 layer is 1.7x faster than a
      // pass per channel vector). With the input BN's sums, each finished row goes straight on
      // to them, reading its row of x into the padded plane, while the row is still in L1; with
      // streamed dx, the row is made in a row-sized buffer and streamed out from there. Made for
      // the whole image first, the staged dx and the two planes (~0.8 MB per image on the 28x28
      // C96 layer) overflowed the L2 between the passes, and the x pass was half the op's time.
      if (sums) pad_border(xbuf, H, W, C, pad, pad, Hp, Wp);
      if (dx)
        for (int h = 0; h < H; ++h) {
          float* drow = stream_dx ? rowbuf : dx + n * HWC + int64_t(h) * W * C;
          // Row h of x, which the x pass reads right after this row of dx, is fetched into L1
          // during the dx strips (compute only), a slice per channel vector: the x pass stalled
          // on it from memory (scripts/ab-paired.mjs: a training step 2.2-2.6% faster). A row
          // ahead was no better; the next image's operands into L2 here (tried: dy, z and x) evicted
          // the current image's planes and were slower.
          SpreadPrefetch<3> xrow;
          if (sums) xrow.init(x + n * HWC + int64_t(h) * W * C, int64_t(W) * C * int64_t(sizeof(float)), int64_t(S) * nv);
          for (int r = 0; r < S; ++r) {
            const DxPlan& pl = plan[h * S + r];
            for (int v = 0; v < nv; ++v) {
              xrow.tick();
              if (pl.U <= 0) continue;
              const bool tail = v == nv - 1 && ctail < L;
              const float* base = dybuf + v * dplane;
              const float* wbase = wp + v * L;
              float* out = drow + int64_t(r) * C + v * L;
              if constexpr (S == 1 && K > 3) {
                // stride 1: every row has the kernel's K taps, and the edges' padding is skipped
                dw_dx_row<K, true>(pl, base, wbase, wstep, out, ops, tail, tm);
              } else {
                switch (pl.KT) {
                  case 1: dw_dx_row<1>(pl, base, wbase, wstep, out, ops, tail, tm); break;
                  case 2: dw_dx_row<2>(pl, base, wbase, wstep, out, ops, tail, tm); break;
                  case 3: dw_dx_row<3>(pl, base, wbase, wstep, out, ops, tail, tm); break;
                  case 4: dw_dx_row<4>(pl, base, wbase, wstep, out, ops, tail, tm); break;
                  case 5: dw_dx_row<5>(pl, base, wbase, wstep, out, ops, tail, tm); break;
                  default: dw_dx_row<7>(pl, base, wbase, wstep, out, ops, tail, tm); break;
                }
              }
            }
          }
          if (sums) {
#define GNAS_CALL(a)                                                                                                 \
  pad_x_sums_t<a>(xbuf, x + n * HWC + int64_t(h) * W * C, drow, h, H, W, pad, pad, Hp, Wp, ChanLayout(C), *bn, \
                  sums->mean, sums->t[slot], sums->t[slot] + Cp, sacc)
            GNAS_ACT_SWITCH(bn->act, GNAS_CALL)
#undef GNAS_CALL
          }
          if (stream_dx) copy_streaming(dx + n * HWC + int64_t(h) * W * C, rowbuf, int64_t(W) * C, h + 1 == H);
        }
      if (!sums) pad_to_blocked(xbuf, x + n * HWC, H, W, C, pad, pad, Hp, Wp, bn);
      dw_dw_image<K, S>(xbuf, Hp, Wp, dybuf, Pp, Qp, off, P, Q, nv, pr, Cp);
    }
  });
  // add up the per-chunk partials in chunk order and drop the padding lanes
  const ChanLayout clw(C);
  for (int tap = 0; tap < K * K; ++tap)
    for (int v = 0; v < clw.nv; ++v) {
      vf acc = zero();
      for (int t = 0; t < nslots; ++t) acc = add(acc, load(part[t] + tap * Cp + v * L));
      clw.st(dw + tap * C, v, acc);
    }
}

static bool dwconv_backward_fast(Ctx& ctx, float* dx, float* dw, const float* dy, const float* x, const InBn* bn,
                                 const float* w, const ConvShape& s, const BnBwd* ob, InBnSums* sums) {
  if (s.pad != s.k / 2) return false;
  GNAS_DW_DISPATCH(dwconv_backward_ks, ctx, dx, dw, dy, x, bn, w, s, ob, sums)
  return false;
}

static void dwconv_backward_any(float* dx, float* dw, const float* dy, const float* x, const float* w,
                                const ConvShape& s) {
  const int64_t in = int64_t(s.N) * s.H * s.W * s.C;
  if (dx)
    for (int64_t i = 0; i < in; ++i) dx[i] = 0.0f;
  for (int64_t i = 0; i < int64_t(s.k) * s.k * s.C; ++i) dw[i] = 0.0f;
  for (int n = 0; n < s.N; ++n)
    for (int p = 0; p < s.P; ++p)
      for (int q = 0; q < s.Q; ++q) {
        const float* g = dy + ((int64_t(n) * s.P + p) * s.Q + q) * s.C;
        for (int i = 0; i < s.k; ++i) {
          const int h = p * s.stride - s.pad + i;
          if (h < 0 || h >= s.H) continue;
          for (int j = 0; j < s.k; ++j) {
            const int ww = q * s.stride - s.pad + j;
            if (ww < 0 || ww >= s.W) continue;
            const int64_t xi = ((int64_t(n) * s.H + h) * s.W + ww) * s.C;
            const int64_t wi = (int64_t(i) * s.k + j) * s.C;
            for (int c = 0; c < s.C; ++c) {
              dw[wi + c] += g[c] * x[xi + c];
              if (dx) dx[xi + c] += g[c] * w[wi + c];
            }
          }
        }
      }
}

// Backend::dwconv_backward_fused (dwconv_backward: all fusions null).
static void dwconv_backward(Ctx& ctx, float* dx, float* dw, float* in_dgamma, float* in_dbeta, const float* dy,
                            const BnGrad* out_bn, const float* x, const BnAct* in_bn, const float* w,
                            const ConvShape& s) {
  BnBwd obb;
  const BnBwd* ob = make_bn_bwd(ctx, &obb, out_bn, s.K, int64_t(s.N) * s.P * s.Q);
  InBn ib;
  const InBn* bn = make_in_bn(ctx, ib, in_bn, s.C);
  InBnSums sums;
  const bool want_sums = in_dgamma && bn && dx;
  if (want_sums) sums.init(ctx, s.C, in_bn->mean);
  if (!dwconv_backward_fast(ctx, dx, dw, dy, x, bn, w, s, ob, want_sums ? &sums : nullptr)) {
    // plain loops for other shapes: materialise the fused operands
    const float* g = dy;
    if (ob) {
      const int64_t rows = int64_t(s.N) * s.P * s.Q;
      float* gb = ctx.ws->shared(7, size_t(rows) * s.C);
      bn_bwd_apply(gb, dy, 0, rows, *ob);
      g = gb;
    }
    dwconv_backward_any(dx, dw, g, dw_activated_copy(ctx, x, bn, s), w, s);
    if (want_sums)
      sums.add(0, dx, x, int64_t(s.N) * s.H * s.W, ChanLayout(s.C), bn->scale, bn->shift, bn->act);
  }
  if (want_sums) sums.finish(in_dgamma, in_dbeta, in_bn->invstd, s.C);
}

}  // namespace GNAS_ISA
}  // namespace cpu
}  // namespace gnas
