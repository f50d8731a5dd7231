// Batch norm fused with its activation, over x[M][C] (NHWC rows), forward (train / eval) and
// backward. All passes are memory-bound streams over M rows; the work is split into blocks of
// rows handed out by the pool.
//
// Column reductions (batch statistics, the two sums of the backward) run over a block of kBnRows
// rows for a group of up to 8 channel vectors at a time: the 16 accumulators stay in registers
// and the block's slice (64 rows x 8 vectors = 32 KB) stays in L1. Block sums are float, then
// widened into per-chunk double accumulators (kernels.h, slot_grain), then summed over the chunks
// in order, in double. The forward
// statistics are taken about a pivot (the first row) so that E[x^2] - E[x]^2 does not cancel when
// |mean| >> std.
//
// Apply passes fold BN into one FMA per element: z = x * scale + shift with scale = gamma*invstd,
// shift = beta - mean*scale; the backward's dx is likewise k1*dz - k2*(x - mean) + k3 per channel.
//
// The two passes of the backward are also exported as pieces (BnBwd, InBnSums) for the fused conv
// backwards: the sums pass runs on a conv's freshly computed dx block, the dx pass on a conv's dy
// block, so a train-mode MBConv needs no standalone BN pass over its expanded tensors.
#pragma once

namespace gnas {
namespace cpu {
namespace GNAS_ISA {

constexpr int64_t kBnRows = 64;

#define GNAS_G_SWITCH(n, CALL) \
  switch (n) {                 \
    case 1: CALL(1); break;    \
    case 2: CALL(2); break;    \
    case 3: CALL(3); break;    \
    case 4: CALL(4); break;    \
    case 5: CALL(5); break;    \
    case 6: CALL(6); break;    \
    case 7: CALL(7); break;    \
    default: CALL(8); break;   \
  }

#define GNAS_ACT_SWITCH(act, CALL) \
  switch (act) {                   \
    case 1: CALL(1); break;        \
    case 2: CALL(2); break;        \
    case 3: CALL(3); break;        \
    default: CALL(0); break;       \
  }

struct ChanLayout {
  int C, nv, ctail;
  tmask tm;
  ChanLayout() : ChanLayout(1) {}
  explicit ChanLayout(int C_) : C(C_), nv(ceil_div(C_, L)), ctail(C_ - (ceil_div(C_, L) - 1) * L), tm(tail_mask(C_ - (ceil_div(C_, L) - 1) * L)) {}
  GNAS_INLINE bool partial(int v) const { return v == nv - 1 && ctail < L; }
  GNAS_INLINE vf ld(const float* p, int v) const { return partial(v) ? load(p + v * L, tm) : load(p + v * L); }
  GNAS_INLINE void st(float* p, int v, vf x) const {
    if (partial(v)) store(p + v * L, x, tm); else store(p + v * L, x);
  }
};

// Double accumulators (nacc arrays of Cp doubles each) in per-thread workspace slot 3 at `index`
// (a chunk's: kernels.h, slot_grain); not zeroed.
static double* thread_doubles(Ctx& ctx, int index, int nacc, int Cp) {
  double* d = reinterpret_cast<double*>(ctx.ws->thread(index, 3, size_t(2) * nacc * Cp));
  return d;
}

// ---- statistics: sum (x - pivot), sum (x - pivot)^2 over a block, group of G vectors from v0
template <int G>
static void bn_stats_group(const float* x, int64_t rows, const ChanLayout& cl, int v0, const float* pivot, double* ds,
                           double* dq) {
  vf s[G], q[G], pv[G];
#pragma GCC unroll 8
  for (int g = 0; g < G; ++g) {
    s[g] = q[g] = zero();
    pv[g] = load(pivot + (v0 + g) * L);
  }
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cl.C;
#pragma GCC unroll 8
    for (int g = 0; g < G; ++g) {
      const vf d = sub(cl.ld(xr, v0 + g), pv[g]);
      s[g] = add(s[g], d);
      q[g] = fmadd(d, d, q[g]);
    }
  }
#pragma GCC unroll 8
  for (int g = 0; g < G; ++g) {
    // lanes past C: loaded as 0, pivot 0 there
    add_to_double(ds + (v0 + g) * L, s[g]);
    add_to_double(dq + (v0 + g) * L, q[g]);
  }
}

// mean[c], invstd[c] of x[M][C] (biased variance).
static void bn_batch_stats(Ctx& ctx, float* mean, float* invstd, const float* x, float eps, int64_t M, int C) {
  const ChanLayout cl(C);
  const int Cp = cl.nv * L;
  float* pivot = ctx.ws->shared(2, size_t(Cp));
  for (int c = 0; c < Cp; ++c) pivot[c] = c < C && M > 0 ? x[c] : 0.0f;
  // per-chunk sums (slot_grain)
  const int64_t nblk = ceil_div(M, kBnRows);
  const int64_t grain = slot_grain_spread(nblk, 8, ctx.nthreads);
  const int nslots = slot_count(nblk, grain);
  double* acc[Workspace::kMaxThreads];
  for (int t = 0; t < nslots; ++t) {
    acc[t] = thread_doubles(ctx, t, 2, Cp);
    for (int i = 0; i < 2 * Cp; ++i) acc[t][i] = 0.0;
  }
  parallel_for(*ctx.pool, nblk, grain, [&](int64_t b, int64_t e, int) {
    double* ds = acc[b / grain];
    double* dq = acc[b / grain] + Cp;
    for (int64_t blk = b; blk < e; ++blk) {
      const int64_t m0 = blk * kBnRows, rows = imin(kBnRows, M - m0);
      for (int v0 = 0; v0 < cl.nv; v0 += 8) {
        const int g = imin(8, cl.nv - v0);
#define GNAS_CALL(n) bn_stats_group<n>(x + m0 * C, rows, cl, v0, pivot, ds, dq)
        GNAS_G_SWITCH(g, GNAS_CALL)
#undef GNAS_CALL
      }
    }
  }, /*ordered=*/false);
  for (int c = 0; c < C; ++c) {
    double s = 0, q = 0;
    for (int t = 0; t < nslots; ++t) {
      s += acc[t][c];
      q += acc[t][Cp + c];
    }
    const double dm = s / double(M);
    double var = q / double(M) - dm * dm;
    if (var < 0) var = 0;
    mean[c] = float(double(pivot[c]) + dm);
    invstd[c] = float(1.0 / __builtin_sqrt(var + double(eps)));
  }
}

// ---- y = act(x * scale + shift)
template <int ACT>
static void bn_apply_rows(float* y, const float* x, const float* scale, const float* shift, int64_t rows,
                          const ChanLayout& cl) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cl.C;
    float* yr = y + r * cl.C;
    for (int v = 0; v < cl.nv; ++v) {
      const vf z = fmadd(cl.ld(xr, v), load(scale + v * L), load(shift + v * L));
      cl.st(yr, v, act_apply<ACT>(z));
    }
  }
}

static void bn_apply(Ctx& ctx, float* y, const float* x, const float* scale, const float* shift, int act, int64_t M,
                     int C) {
  const ChanLayout cl(C);
  const int64_t nblk = ceil_div(M, kBnRows);
  parallel_for(*ctx.pool, nblk, ceil_div<int64_t>(nblk, 8 * ctx.nthreads), [&](int64_t b, int64_t e, int) {
    const int64_t m0 = b * kBnRows, rows = imin(e * kBnRows, M) - m0;
#define GNAS_CALL(a) bn_apply_rows<a>(y + m0 * C, x + m0 * C, scale, shift, rows, cl)
    GNAS_ACT_SWITCH(act, GNAS_CALL)
#undef GNAS_CALL
  });
}

// The BN folded into per-channel scale = gamma * invstd and shift = beta - mean * scale (Cp floats
// each, zero past C). Every pass that applies a BN as act(x * scale + shift) folds it here, so a
// BN applied by different kernels (bn_act_apply, a conv's in_bn, the depthwise eval epilogue)
// gives the same bits.
static void bn_fold_into(float* scale, float* shift, const float* mean, const float* invstd, const float* gamma,
                         const float* beta, int C, int Cp) {
  for (int c = 0; c < Cp; ++c) {
    const float sc = c < C ? gamma[c] * invstd[c] : 0.0f;
    scale[c] = sc;
    shift[c] = c < C ? beta[c] - mean[c] * sc : 0.0f;
  }
}
// scale/shift arrays (Cp floats each, zero padded) in shared workspace slots 3 and 4.
static void bn_fold(Ctx& ctx, float** scale, float** shift, const float* mean, const float* invstd,
                    const float* gamma, const float* beta, int C) {
  const int Cp = ceil_div(C, L) * L;
  *scale = ctx.ws->shared(3, size_t(Cp));
  *shift = ctx.ws->shared(4, size_t(Cp));
  bn_fold_into(*scale, *shift, mean, invstd, gamma, beta, C, Cp);
}

static void bn_act_forward_train(Ctx& ctx, float* y, float* mean, float* invstd, const float* x, const float* gamma,
                                 const float* beta, float eps, int act, int64_t M, int C) {
  bn_batch_stats(ctx, mean, invstd, x, eps, M, C);
  float *scale, *shift;
  bn_fold(ctx, &scale, &shift, mean, invstd, gamma, beta, C);
  bn_apply(ctx, y, x, scale, shift, act, M, C);
}

// y = act(gamma * (x - mean) * invstd + beta) from saved statistics (Backend::bn_act_apply).
static void bn_act_apply(Ctx& ctx, float* y, const float* x, const float* mean, const float* invstd, const float* gamma,
                         const float* beta, int act, int64_t M, int C) {
  float *scale, *shift;
  bn_fold(ctx, &scale, &shift, mean, invstd, gamma, beta, C);
  bn_apply(ctx, y, x, scale, shift, act, M, C);
}

// The block output in one pass (Backend::bn_act_residual_apply): y = act(x * scale + shift) + r,
// r null for none; y, r and x stored as Out, Res and In (float, or bfloat16 in the scoring
// forward). y may be x (each value is read before it is written). The sum is the one add_inplace
// would do after bn_act_apply, so the float result is bit-identical.
template <int ACT, class Res, class Out, class In = F32Io>
static void bn_residual_rows(typename Out::T* y, const typename In::T* x, const float* scale, const float* shift,
                             const typename Res::T* r, int64_t rows, int C) {
  const int nv = ceil_div(C, L), ctail = C - (nv - 1) * L;
  const tmask tm = tail_mask(ctail);
  for (int64_t i = 0; i < rows; ++i) {
    const typename In::T* xr = x + i * C;
    typename Out::T* yr = y + i * C;
    for (int v = 0; v < nv; ++v) {
      const bool tail = v == nv - 1 && ctail < L;
      vf z = act_apply<ACT>(fmadd(tail ? In::ld(xr + v * L, tm) : In::ld(xr + v * L), load(scale + v * L),
                                  load(shift + v * L)));
      if (r) z = add(z, tail ? Res::ld(r + i * C + v * L, tm) : Res::ld(r + i * C + v * L));
      if (tail) Out::st(yr + v * L, z, tm);
      else Out::st(yr + v * L, z);
    }
  }
}
template <class Res, class Out, class In = F32Io>
static void bn_act_residual(Ctx& ctx, typename Out::T* y, const typename In::T* x, const float* mean,
                            const float* invstd, const float* gamma, const float* beta, int act,
                            const typename Res::T* r, int64_t M, int C) {
  float *scale, *shift;
  bn_fold(ctx, &scale, &shift, mean, invstd, gamma, beta, C);
  const int64_t nblk = ceil_div(M, kBnRows);
  parallel_for(*ctx.pool, nblk, ceil_div<int64_t>(nblk, 8 * ctx.nthreads), [&](int64_t b, int64_t e, int) {
    const int64_t m0 = b * kBnRows, rows = imin(e * kBnRows, M) - m0;
    const typename Res::T* rb = r ? r + m0 * C : nullptr;
#define GNAS_CALL(a) bn_residual_rows<a, Res, Out, In>(y + m0 * C, x + m0 * C, scale, shift, rb, rows, C)
    GNAS_ACT_SWITCH(act, GNAS_CALL)
#undef GNAS_CALL
  });
}
static void bn_act_residual_apply(Ctx& ctx, float* y, const float* x, const float* mean, const float* invstd,
                                  const float* gamma, const float* beta, int act, const float* residual, int64_t M,
                                  int C) {
  bn_act_residual<F32Io, F32Io>(ctx, y, x, mean, invstd, gamma, beta, act, residual, M, C);
}

// The eval-mode BN (running statistics) folded into scale = gamma / sqrt(var + eps) and shift =
// beta - mean * scale (Cp floats each, zero past C): bn_act_forward_eval's, and the eval-mode
// head chain's (eval_chains.h), so the two give the same bits.
static void bn_fold_running_into(float* scale, float* shift, const float* gamma, const float* beta,
                                 const float* running_mean, const float* running_var, float eps, int C, int Cp) {
  for (int c = 0; c < Cp; ++c) {
    const float sc = c < C ? float(double(gamma[c]) / __builtin_sqrt(double(running_var[c]) + double(eps))) : 0.0f;
    scale[c] = sc;
    shift[c] = c < C ? beta[c] - running_mean[c] * sc : 0.0f;
  }
}
static void bn_act_forward_eval(Ctx& ctx, float* y, const float* x, const float* gamma, const float* beta,
                                const float* running_mean, const float* running_var, float eps, int act, int64_t M,
                                int C) {
  const int Cp = ceil_div(C, L) * L;
  float* scale = ctx.ws->shared(3, size_t(Cp));
  float* shift = ctx.ws->shared(4, size_t(Cp));
  bn_fold_running_into(scale, shift, gamma, beta, running_mean, running_var, eps, C, Cp);
  bn_apply(ctx, y, x, scale, shift, act, M, C);
}

// ---- backward pass 1: sum dz, sum dz * xhat, dz = dy * act'(x * scale + shift)
template <int ACT, int G>
static void bn_bwd_sums_group(const float* dy, const float* x, int64_t rows, const ChanLayout& cl, int v0,
                              const float* scale, const float* shift, const float* mean, double* ds, double* dsx) {
  vf s[G], sx[G];
#pragma GCC unroll 8
  for (int g = 0; g < G; ++g) s[g] = sx[g] = zero();
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cl.C;
    const float* gr = dy + r * cl.C;
#pragma GCC unroll 8
    for (int g = 0; g < G; ++g) {
      const int v = v0 + g;
      const vf xv = cl.ld(xr, v);
      const vf dz = act_backward<ACT>(fmadd(xv, load(scale + v * L), load(shift + v * L)), cl.ld(gr, v));
      s[g] = add(s[g], dz);
      sx[g] = fmadd(dz, sub(xv, load(mean + v * L)), sx[g]);  // times invstd later
    }
  }
#pragma GCC unroll 8
  for (int g = 0; g < G; ++g) {
    add_to_double(ds + (v0 + g) * L, s[g]);
    add_to_double(dsx + (v0 + g) * L, sx[g]);
  }
}

// ---- backward pass 2: dx = k1 * dz - k2 * (x - mean) + k3
// One vector of pass 2 (channel vector v, x and dy of one row already loaded); also used by the
// depthwise backward, which writes it straight into a padded plane (depthwise_backward.h pad_dy_bn_t).
template <int ACT>
GNAS_INLINE vf bn_bwd_dx_vec(vf xv, vf gv, int v, const float* scale, const float* shift, const float* mean,
                             const float* k1, const float* k2, const float* k3) {
  const vf dz = act_backward<ACT>(fmadd(xv, load(scale + v * L), load(shift + v * L)), gv);
  const vf xc = sub(xv, load(mean + v * L));
  return fmadd(load(k1 + v * L), dz, fnmadd(load(k2 + v * L), xc, load(k3 + v * L)));
}
template <int ACT>
static void bn_bwd_dx_rows(float* dx, const float* dy, const float* x, int64_t rows, const ChanLayout& cl,
                           const float* scale, const float* shift, const float* mean, const float* k1,
                           const float* k2, const float* k3) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cl.C;
    const float* gr = dy + r * cl.C;
    float* dr = dx + r * cl.C;
    for (int v = 0; v < cl.nv; ++v)
      cl.st(dr, v, bn_bwd_dx_vec<ACT>(cl.ld(xr, v), cl.ld(gr, v), v, scale, shift, mean, k1, k2, k3));
  }
}

// Pass 1 over rows [0, rows): ds[c] += sum dz, dsx[c] += sum dz * (x - mean) (times invstd later).
// Walks kBnRows-row blocks (each block's slice stays in L1 across the channel groups, and the
// float partial sums are widened to double per block).
static void bn_bwd_sums_rows(const float* dy, const float* x, int64_t rows, const ChanLayout& cl, const float* scale,
                             const float* shift, const float* mean, int act, double* ds, double* dsx) {
  if (rows > kBnRows) {
    for (int64_t r0 = 0; r0 < rows; r0 += kBnRows)
      bn_bwd_sums_rows(dy + r0 * cl.C, x + r0 * cl.C, imin(kBnRows, rows - r0), cl, scale, shift, mean, act, ds, dsx);
    return;
  }
  for (int v0 = 0; v0 < cl.nv; v0 += 8) {
    const int g = imin(8, cl.nv - v0);
#define GNAS_CALL2(a, n) bn_bwd_sums_group<a, n>(dy, x, rows, cl, v0, scale, shift, mean, ds, dsx)
#define GNAS_CALL(n)                 \
  switch (act) {                     \
    case 1: GNAS_CALL2(1, n); break; \
    case 2: GNAS_CALL2(2, n); break; \
    case 3: GNAS_CALL2(3, n); break; \
    default: GNAS_CALL2(0, n); break; \
  }
    GNAS_G_SWITCH(g, GNAS_CALL)
#undef GNAS_CALL
#undef GNAS_CALL2
  }
}

// Pass 2 over rows: dx = k1 * dz - k2 * (x - mean) + k3.
static void bn_bwd_dx(float* dx, const float* dy, const float* x, int64_t rows, const ChanLayout& cl,
                      const float* scale, const float* shift, const float* mean, const float* k1, const float* k2,
                      const float* k3, int act) {
#define GNAS_CALL(a) bn_bwd_dx_rows<a>(dx, dy, x, rows, cl, scale, shift, mean, k1, k2, k3)
  GNAS_ACT_SWITCH(act, GNAS_CALL)
#undef GNAS_CALL
}

static void bn_act_backward(Ctx& ctx, float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                            const float* mean, const float* invstd, const float* gamma, const float* beta, int act,
                            int64_t M, int C) {
  const ChanLayout cl(C);
  const int Cp = cl.nv * L;
  float *scale, *shift;
  bn_fold(ctx, &scale, &shift, mean, invstd, gamma, beta, C);
  float* meanp = ctx.ws->shared(5, size_t(4) * Cp);  // mean, k1, k2, k3
  for (int c = 0; c < Cp; ++c) meanp[c] = c < C ? mean[c] : 0.0f;
  // per-chunk sums (slot_grain)
  const int64_t nblk = ceil_div(M, kBnRows);
  const int64_t grain = slot_grain_spread(nblk, 8, ctx.nthreads);
  const int nslots = slot_count(nblk, grain);
  double* acc[Workspace::kMaxThreads];
  for (int t = 0; t < nslots; ++t) {
    acc[t] = thread_doubles(ctx, t, 2, Cp);
    for (int i = 0; i < 2 * Cp; ++i) acc[t][i] = 0.0;
  }
  parallel_for(*ctx.pool, nblk, grain, [&](int64_t b, int64_t e, int) {
    const int64_t m0 = b * kBnRows, rows = imin(e * kBnRows, M) - m0;
    bn_bwd_sums_rows(dy + m0 * C, x + m0 * C, rows, cl, scale, shift, meanp, act, acc[b / grain],
                     acc[b / grain] + Cp);
  }, /*ordered=*/false);
  float* k1 = meanp + Cp;
  float* k2 = meanp + 2 * Cp;
  float* k3 = meanp + 3 * Cp;
  for (int c = 0; c < Cp; ++c) k1[c] = k2[c] = k3[c] = 0.0f;
  for (int c = 0; c < C; ++c) {
    double s = 0, sx = 0;
    for (int t = 0; t < nslots; ++t) {
      s += acc[t][c];
      sx += acc[t][Cp + c];
    }
    const double is = double(invstd[c]);
    sx *= is;  // sum dz * xhat
    dbeta[c] = float(s);
    dgamma[c] = float(sx);
    const double a1 = double(gamma[c]) * is;
    const double a2 = a1 * is * sx / double(M);
    k1[c] = float(a1);
    k2[c] = float(a2);
    k3[c] = float(-a1 * s / double(M));
  }
  if (!dx) return;
  parallel_for(*ctx.pool, nblk, grain, [&](int64_t b, int64_t e, int) {
    const int64_t m0 = b * kBnRows, rows = imin(e * kBnRows, M) - m0;
    bn_bwd_dx(dx + m0 * C, dy + m0 * C, x + m0 * C, rows, cl, scale, shift, meanp, k1, k2, k3, act);
  });
}

// ---- pieces of bn_act_backward for the fused conv backwards (Backend::conv_backward_fused)

// Second pass of a BnGrad folded into per-channel constants (Cp floats each, shared slot 8):
// the conv's output gradient is bn_bwd_dx(dy, x = the BN's input).
struct BnBwd {
  const float* x;
  const float *scale, *shift, *mean, *k1, *k2, *k3;
  int act;
  ChanLayout cl;
};
static const BnBwd* make_bn_bwd(Ctx& ctx, BnBwd* out, const BnGrad* g, int C, int64_t M) {
  if (!g) return nullptr;
  const int Cp = ceil_div(C, L) * L;
  float* p = ctx.ws->shared(8, size_t(6) * Cp);
  for (int c = 0; c < 6 * Cp; ++c) p[c] = 0.0f;
  for (int c = 0; c < C; ++c) {
    const double is = double(g->invstd[c]), a1 = double(g->gamma[c]) * is;
    p[c] = float(a1);                                             // scale (BN fold)
    p[Cp + c] = float(double(g->beta[c]) - double(g->mean[c]) * a1);  // shift
    p[2 * Cp + c] = g->mean[c];
    p[3 * Cp + c] = float(a1);                                    // k1
    p[4 * Cp + c] = float(a1 * is * double(g->dgamma[c]) / double(M));  // k2
    p[5 * Cp + c] = float(-a1 * double(g->dbeta[c]) / double(M));      // k3
  }
  *out = BnBwd{g->x, p, p + Cp, p + 2 * Cp, p + 3 * Cp, p + 4 * Cp, p + 5 * Cp, int(g->act), ChanLayout(C)};
  return out;
}
// The conv's output gradient for rows [m0, m0 + rows) into dst (rows x C, contiguous).
static void bn_bwd_apply(float* dst, const float* dy, int64_t m0, int64_t rows, const BnBwd& b) {
  const int C = b.cl.C;
  bn_bwd_dx(dst, dy + m0 * C, b.x + m0 * C, rows, b.cl, b.scale, b.shift, b.mean, b.k1, b.k2, b.k3, b.act);
}

// One pass over `rows` rows of a pre-BN input x (rows x C): each activated value
// a = act(x * scale + shift) goes to dst(r) + v * vstride (masked on the last, partial vector when
// mask_tail; a padded plane takes the whole vector, whose lanes past C are zero), and the input
// BN's parameter-gradient sums against gx (the gradient of a, same layout as x) are added into
// ds / dsx exactly as bn_bwd_sums_rows adds them (float sums per block of kBnRows rows, each block
// added to the double totals), so fusing this pass changes no result. The conv backwards use it to
// read x once for both the weight gradient's operand and the sums. acc: 2 x Cp floats of scratch.
//
// The pass may come in pieces: rows [rb, re) of `rows`, with x, gx and dst(i) indexing the
// piece's own rows from 0 (rb only places the piece among the kBnRows blocks); acc carries the
// open block's float sums from one piece to the next, so the sums are the same, bit for bit,
// however the rows are cut (the first piece, rb = 0, zeroes acc).
template <int ACT, class Dst>
GNAS_INLINE void bn_act_sums_rows(Dst dst, int64_t vstride, bool mask_tail, const float* x, const float* gx,
                                  int64_t rb, int64_t re, int64_t rows, const ChanLayout& cl, const float* scale,
                                  const float* shift, const float* mean, double* ds, double* dsx, float* acc) {
  const int nv = cl.nv, C = cl.C;
  float* sacc = acc;
  float* sxacc = acc + nv * L;
  if (rb == 0)
    for (int i = 0; i < 2 * nv * L; ++i) acc[i] = 0.0f;
  for (int64_t i = 0, r = rb; r < re; ++i, ++r) {
    float* d = dst(i);
    for (int v = 0; v < nv; ++v) {
      prefetch_ahead(x + i * C + v * L);
      const vf xv = cl.ld(x + i * C, v);
      const vf z = fmadd(xv, load(scale + v * L), load(shift + v * L));
      if (mask_tail) cl.st(d, v, act_apply<ACT>(z));  // cl.st indexes v * L: row-major dst
      else store(d + v * vstride, act_apply<ACT>(z));
      const vf dz = act_backward<ACT>(z, cl.ld(gx + i * C, v));
      store(sacc + v * L, add(load(sacc + v * L), dz));
      store(sxacc + v * L, fmadd(dz, sub(xv, load(mean + v * L)), load(sxacc + v * L)));
    }
    if ((r + 1) % kBnRows == 0 || r + 1 == rows)
      for (int v = 0; v < nv; ++v) {
        add_to_double(ds + v * L, load(sacc + v * L));
        add_to_double(dsx + v * L, load(sxacc + v * L));
        store(sacc + v * L, zero());
        store(sxacc + v * L, zero());
      }
  }
}

// First pass for an input BN (in_bn) from the conv's dx: double sums per thread of an ordered loop
// or per chunk of an unordered one (kernels.h, slot_grain), in per-thread workspace slot 7,
// finished into dgamma / dbeta.
struct InBnSums {
  int Cp = 0;
  int nslots = 0;
  double* t[Workspace::kMaxThreads];
  const float* mean;  // padded
  void init(Ctx& ctx, int C, const float* mean_in) {
    Cp = ceil_div(C, L) * L;
    nslots = 0;
    reserve(ctx, ctx.nthreads);
    float* m = ctx.ws->shared(9, size_t(Cp));
    for (int c = 0; c < Cp; ++c) m[c] = c < C ? mean_in[c] : 0.0f;
    mean = m;
  }
  // at least `slots` zeroed slots (a loop with that many chunks)
  void reserve(Ctx& ctx, int slots) {
    for (; nslots < slots; ++nslots) {
      t[nslots] = reinterpret_cast<double*>(ctx.ws->thread(nslots, 7, size_t(4) * Cp));
      for (int n = 0; n < 2 * Cp; ++n) t[nslots][n] = 0.0;
    }
  }
  // dx, x: rows x C at row offset m0 (dx is the gradient of the activated input)
  void add(int tid, const float* dx, const float* x, int64_t rows, const ChanLayout& cl, const float* scale,
           const float* shift, int act) {
    bn_bwd_sums_rows(dx, x, rows, cl, scale, shift, mean, act, t[tid], t[tid] + Cp);
  }
  void finish(float* dgamma, float* dbeta, const float* invstd, int C) const {
    for (int c = 0; c < C; ++c) {
      double sm = 0, sx = 0;
      for (int i = 0; i < nslots; ++i) {
        sm += t[i][c];
        sx += t[i][Cp + c];
      }
      dbeta[c] = float(sm);
      dgamma[c] = float(sx * double(invstd[c]));
    }
  }
};

}  // namespace GNAS_ISA
}  // namespace cpu
}  // namespace gnas
