// Dense convolution (conv_forward / conv_backward of core/backend.h) on the GEMM engine (gemm.h).
//
//   1x1, stride 1 (expand / project convs, the bulk of the FLOPs): the NHWC input already is the
//   A matrix [M = N*H*W, C]; forward is one rows-form GEMM, backward runs dX (rows form) and the dW
//   partial (dw form) on the same block of dY rows while that block is hot in L2.
//   anything else (the stem k x k conv with C = 1 or 3, the strided 1x1 identity at reduction
//   layers, general k x k): im2col of a block of output pixels into per-thread scratch (row r =
//   the k*k*C input values under output pixel r, in the w[K][k][k][C] order), then the same
//   drivers; dX goes back through col2im. These convs are small (C <= 3 or k = 1), so the gather
//   costs little next to the GEMM and the output write.
//
// Fusions (Backend::conv_forward_fused / conv_backward_fused):
//   input BN+act (in_bn): the input is given pre-BN; each block of A rows (forward) or B rows (dW)
//   is activated into per-thread scratch on its way into the GEMM (or during im2col), so the
//   activated tensor never makes a round trip through memory.
//   output statistics: the GEMM epilogue sums y and y^2 per channel while the tile is still in
//   registers (gemm.h), so the batch norm that follows needs no statistics pass.
//   backward out_bn: the conv's dy is computed per block of rows from the unit's output gradient
//   (the BN's input-gradient pass) into per-thread scratch, and feeds both dX and dW from there;
//   backward input-BN sums: the input BN's parameter-gradient sums are taken from each finished
//   dX block while it is in L2, in the same pass over the block of x that activates it for dW
//   (1x1: batchnorm.h bn_act_sums_rows; other shapes: InBnSums::add).
//
// Threading: blocks of rows (1x1) or images (general) are handed out by the pool; weight
// gradients are summed per thread in workspace partials and reduced at the end.
#pragma once

namespace gnas {
namespace cpu {
namespace GNAS_ISA {

// Rows per block of the rows-form drivers: the A block (MB x KC) and C block (MB x N) stay in L2.
static int64_t rows_block(int MR) { return int64_t(MR) * imax(1, 192 / MR); }
// Reduction rows per dw-form call, at least: a B panel of 128 rows x NP floats stays in L1.
constexpr int64_t kDwRows = 128;
// Rows per block of the 1x1 backward. Each block ends with one dw-form call per weight-gradient
// tile, which loads and stores its tile of the partial dW once: with few channels (C, K = 16..144
// at 28x28 and 14x14) a block of 128 rows gives that load/store, the call and the packing too few
// FMAs to hide in. So a block takes as many rows as keep its dY and x rows within ~256 KB (a
// quarter of a 1 MB L2; the longer B panels then stream from L2, which measured faster), up to
// 512, at least 128, leaving at least 8 blocks per thread for the pool to balance (the wide 7x7
// layers keep 128). Then the block is cut to whole row tiles of the dX GEMM (MR rows): a partial
// tile costs a full one, and 128 rows of 14-row tiles (C = 120, 128, where 6272 = 14 x 448 makes
// choose_tile pick them) wasted 9% of the dX FMAs. Measurements: docs/performance-earlier.md, "1x1
// weight gradients".
static int64_t backward_rows_block(int K, int C, int64_t M, int nthreads, int MR) {
  const int64_t fit = int64_t(256) * 1024 / (int64_t(K + C) * int64_t(sizeof(float)));
  const int64_t balanced = M / (int64_t(8) * nthreads);
  const int64_t rows = imax(kDwRows, imin(imin<int64_t>(512, fit), balanced) / 8 * 8);
  return imax<int64_t>(MR, rows / MR * MR);
}

// Sums per-thread partials part[t][0..n) of the threads that touched theirs into out[0..n).
// With rows > 0 the partials are laid out transposed, [n / rows][rows], and out is written as
// out[r][c] (the dw form run with channels swapped, see conv1x1_backward).
static void reduce_partials(Ctx& ctx, float* out, float* const* part, const bool* touched, int64_t n,
                            int64_t rows = 0) {
  int T = 0;
  const float* src[Workspace::kMaxThreads];
  for (int t = 0; t < ctx.nthreads; ++t)
    if (touched[t]) src[T++] = part[t];
  if (rows > 0) {
    const int64_t cols = n / rows;  // partial is [cols][rows]
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) {
        float acc = 0.0f;
        for (int t = 0; t < T; ++t) acc += src[t][c * rows + r];
        out[r * cols + c] = acc;
      }
    return;
  }
  parallel_for(*ctx.pool, ceil_div<int64_t>(n, 4096), 1, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b * 4096; i < imin(n, e * 4096); ++i) {
      float acc = 0.0f;
      for (int t = 0; t < T; ++t) acc += src[t][i];
      out[i] = acc;
    }
  });
}

// Fraction of the lanes a row of n channels uses.
static double lane_use(int n) { return double(n) / double(ceil_div(n, L) * L); }

// Input batch norm + activation of a fused conv, folded to a = act(x * scale[c] + shift[c]).
struct InBn {
  const float* scale;  // Cp floats, zero past C
  const float* shift;
  int act;
};

// Folds a BnAct into workspace shared slot `slot` (null in, null out).
static const InBn* make_in_bn(Ctx& ctx, InBn& out, const BnAct* bn, int C, int slot = 4) {
  if (!bn) return nullptr;
  const int Cp = ceil_div(C, L) * L;
  float* p = ctx.ws->shared(slot, size_t(2) * Cp);
  bn_fold_into(p, p + Cp, bn->mean, bn->invstd, bn->gamma, bn->beta, C, Cp);
  out.scale = p;
  out.shift = p + Cp;
  out.act = int(bn->act);
  return &out;
}

template <int ACT>
static void bn_act_rows_t(float* dst, int64_t ldd, const float* src, int64_t lds, int64_t rows, int C,
                          const InBn& bn) {
  const int nv = ceil_div(C, L), ctail = C - (nv - 1) * L;
  const tmask tm = tail_mask(ctail);
  for (int64_t r = 0; r < rows; ++r) {
    const float* sr = src + r * lds;
    float* dr = dst + r * ldd;
    for (int v = 0; v < nv; ++v) {
      const bool t = v == nv - 1 && ctail < L;
      const vf x = t ? load(sr + v * L, tm) : load(sr + v * L);
      const vf a = act_apply<ACT>(fmadd(x, load(bn.scale + v * L), load(bn.shift + v * L)));
      if (t) store(dr + v * L, a, tm); else store(dr + v * L, a);
    }
  }
}
// dst[r][c] = act(src[r][c] * scale[c] + shift[c]) for rows x C.
static void bn_act_rows(float* dst, int64_t ldd, const float* src, int64_t lds, int64_t rows, int C, const InBn& bn) {
  switch (bn.act) {
    case 1: bn_act_rows_t<1>(dst, ldd, src, lds, rows, C, bn); break;
    case 2: bn_act_rows_t<2>(dst, ldd, src, lds, rows, C, bn); break;
    case 3: bn_act_rows_t<3>(dst, ldd, src, lds, rows, C, bn); break;
    default: bn_act_rows_t<0>(dst, ldd, src, lds, rows, C, bn); break;
  }
}

// Output statistics of a fused forward: per-block float sums from the GEMM epilogue, widened into
// per-chunk double accumulators (kernels.h, slot_grain), reduced in chunk order and finished into
// mean / invstd.
struct OutStats {
  int NPt = 0;     // floats per sum array (panels * NP)
  int nslots = 0;  // chunks of the loop
  double* t[Workspace::kMaxThreads];
  // Workspace: per-thread slot 3 holds the doubles (index: the chunk), slot 2 a thread's float sums
  // of its current block (index: the thread).
  void init(Ctx& ctx, int npt, int slots) {
    NPt = npt;
    nslots = slots;
    for (int i = 0; i < nslots; ++i) {
      t[i] = reinterpret_cast<double*>(ctx.ws->thread(i, 3, size_t(4) * NPt));
      for (int n = 0; n < 2 * NPt; ++n) t[i][n] = 0.0;
    }
  }
  float* block(Ctx& ctx, int tid) {
    float* fs = ctx.ws->thread(tid, 2, size_t(2) * NPt);
    for (int n = 0; n < 2 * NPt; ++n) fs[n] = 0.0f;
    return fs;
  }
  void flush(const float* fs, int slot) {
    double* ts = t[slot];
    for (int n = 0; n < 2 * NPt; n += L) add_to_double(ts + n, load(fs + n));
  }
  void finish(float* mean, float* invstd, float eps, int64_t M, int K) const {
    for (int n = 0; n < K; ++n) {
      double s = 0, q = 0;
      for (int i = 0; i < nslots; ++i) {
        s += t[i][n];
        q += t[i][NPt + n];
      }
      const double m = s / double(M);
      double var = q / double(M) - m * m;
      if (var < 0) var = 0;
      mean[n] = float(m);
      invstd[n] = float(1.0 / sqrt(var + double(eps)));
    }
  }
};

// Forward 1x1 stride-1 conv Y[M][K] = A[M][C] . W[K][C]^T with A = X, or act(bn(X)) when bn is
// given. If mean is given, also the batch statistics of Y (see OutStats).
static void conv1x1_forward(Ctx& ctx, float* y, const float* x, const float* w, int64_t M, int C, int K,
                            const InBn* bn, float* mean, float* invstd, float eps) {
  const Tile t = choose_tile(M, K);
  const PackedB B = pack_b(ctx, 0, w, 1, C, C, K, t);
  const int64_t MB = rows_block(t.MR);
  const int64_t nblk = ceil_div(M, MB);
  const bool stats = mean != nullptr;
  // with statistics, chunks of several blocks (about 8 per thread): fewer per-chunk sums to zero
  // and add up; without, one block each
  const int64_t grain = stats ? slot_grain_spread(nblk, 8, ctx.nthreads) : 1;
  OutStats st;
  if (stats) st.init(ctx, B.npanels * B.NP, slot_count(nblk, grain));
  // An output that, with its input, exceeds the last-level cache leaves it before the next op
  // reads it anyway (the 28x28 expand conv's: 38.5 MB at batch 128): its lines are streamed out
  // rather than each first read for ownership.
  const bool stream =
      gemm_streams_c(y, K) && int64_t(sizeof(float)) * M * (int64_t(C) + K) > ctx.stream_min_bytes;
  parallel_for(*ctx.pool, nblk, grain, [&](int64_t b, int64_t e, int tid) {
    float* tail = ctx.ws->thread(tid, 1, size_t(t.MR) * C);
    float* abuf = bn ? ctx.ws->thread(tid, 0, size_t(MB) * C) : nullptr;
    for (int64_t blk = b; blk < e; ++blk) {
      const int64_t m0 = blk * MB, rows = imin(MB, M - m0);
      float* fs = stats ? st.block(ctx, tid) : nullptr;
      const float* a = x + m0 * C;
      if (bn) {
        bn_act_rows(abuf, C, a, C, rows, C, *bn);
        a = abuf;
      }
      // read-ahead of the rows of x of this thread's next block
      AheadPrefetch pf;
      int64_t n0, nrows;
      if (next_block_rows(blk, e, ctx.nthreads, nblk, MB, M, n0, nrows)) {
        pf.add_rows(x, n0, nrows, C * int64_t(sizeof(float)));
        pf.spread(rows_block_steps(B, rows));
      }
      gemm_rows_block(B, a, C, rows, y + m0 * K, K, fs, stats ? fs + st.NPt : nullptr, tail, &pf, stream);
      if (stats) st.flush(fs, int(b / grain));
    }
    if (stream) _mm_sfence();  // the streamed lines are visible to whichever thread reads y next
  });
  if (stats) st.finish(mean, invstd, eps, M, K);
}

// Backward of a 1x1 stride-1 conv, per block of MB rows: dX = dY . W (rows form) and the dW
// partial (dw form) while the block of dY is hot in L2. Fusions (see Backend::conv_backward_fused):
// ob: dY is first computed from the unit's output gradient (BN backward, second pass) into
// per-thread scratch; sums: the input BN's parameter-gradient sums from each finished dX block,
// taken in the pass that activates the block of x for dW (bn_act_sums_rows), so x is read once.
static void conv1x1_backward(Ctx& ctx, float* dx, float* dw, const float* dy, const float* x, const float* w,
                             int64_t M, int C, int K, const InBn* bn, const BnBwd* ob = nullptr,
                             InBnSums* sums = nullptr) {
  PackedB Bx{};
  if (dx) Bx = pack_b(ctx, 1, w, C, 1, K, C, choose_tile(M, C));
  // dW[K][C] has its C channels along the lanes; when K fills the lanes better (C = 16, 24 next
  // to K = 96, 144 in the expand convs) compute dW^T[C][K] instead and transpose in the reduction.
  const bool swap = lane_use(K) > lane_use(C) + 0.01 || (lane_use(K) >= lane_use(C) - 0.01 && K > 2 * C);
  const Tile tw = swap ? choose_tile(C, K) : choose_tile(K, C);
  const int MRx = dx ? Bx.t.MR : 1;
  const int64_t MB = backward_rows_block(K, C, M, ctx.nthreads, MRx);
  const int64_t nblk = ceil_div(M, MB);
  float* part[Workspace::kMaxThreads];
  bool touched[Workspace::kMaxThreads];
  for (int i = 0; i < ctx.nthreads; ++i) {
    part[i] = ctx.ws->thread(i, 0, size_t(K) * C);
    touched[i] = false;
  }
  const ChanLayout clc(C);
  parallel_for(*ctx.pool, nblk, 1, [&](int64_t b, int64_t e, int tid) {
    float* p = part[tid];
    if (!touched[tid]) {
      for (int64_t i = 0; i < int64_t(K) * C; ++i) p[i] = 0.0f;
      touched[tid] = true;
    }
    const int64_t dw_scratch = swap ? dw_block_scratch(tw, C, K, MB, C, K) : dw_block_scratch(tw, K, C, MB, K, C);
    float* tail = ctx.ws->thread(tid, 1, size_t(imax<int64_t>(int64_t(MRx) * K, dw_scratch)));
    float* xbuf = bn ? ctx.ws->thread(tid, 2, size_t(MB) * C) : nullptr;
    float* gbuf = ob ? ctx.ws->thread(tid, 6, size_t(MB) * K) : nullptr;
    float* sacc = sums ? ctx.ws->thread(tid, 3, size_t(2) * clc.nv * L) : nullptr;
    for (int64_t blk = b; blk < e; ++blk) {
      const int64_t m0 = blk * MB, rows = imin(MB, M - m0);
      const float* g = dy + m0 * K;
      if (ob) {
        bn_bwd_apply(gbuf, dy, m0, rows, *ob);
        g = gbuf;
      }
      // read-ahead of this thread's next block, carried by the dX GEMM and then by the dW GEMM:
      // what the next block's BN pass and its dW operand read, in that order
      AheadPrefetch pf;
      int64_t n0, nrows;
      if (dx && next_block_rows(blk, e, ctx.nthreads, nblk, MB, M, n0, nrows)) {
        pf.add_rows(dy, n0, nrows, K * int64_t(sizeof(float)));
        if (ob) pf.add_rows(ob->x, n0, nrows, K * int64_t(sizeof(float)));
        pf.add_rows(x, n0, nrows, C * int64_t(sizeof(float)));
        pf.spread(rows_block_steps(Bx, rows) + (swap ? dw_block_steps(tw, C, K, rows) : dw_block_steps(tw, K, C, rows)));
      }
      if (dx) gemm_rows_block(Bx, g, K, rows, dx + m0 * C, C, nullptr, nullptr, tail, &pf);
      const float* xb = x + m0 * C;
      if (bn) {
        // x read once: activated for the dW operand, and with the input BN's sums from dX
        if (sums) {
          auto row = [&](int64_t r) { return xbuf + r * C; };
#define GNAS_CALL(a)                                                                                              \
  bn_act_sums_rows<a>(row, L, true, xb, dx + m0 * C, 0, rows, rows, clc, bn->scale, bn->shift, sums->mean, \
                      sums->t[tid], sums->t[tid] + sums->Cp, sacc)
          GNAS_ACT_SWITCH(bn->act, GNAS_CALL)
#undef GNAS_CALL
        } else {
          bn_act_rows(xbuf, C, xb, C, rows, C, *bn);
        }
        xb = xbuf;
      }
      if (swap)
        gemm_dw_block(tw, xb, C, C, g, K, K, rows, p, K, tail, &pf);  // p = dW^T[C][K]
      else
        gemm_dw_block(tw, g, K, K, xb, C, C, rows, p, C, tail, &pf);  // p = dW[K][C]
    }
  }, /*ordered=*/true);  // per-thread dW partials: K x C ones per chunk measured no consistent gain
  reduce_partials(ctx, dw, part, touched, int64_t(K) * C, swap ? K : 0);
}

// im2col of output rows [r0, r0 + rows) of image n: col[r][(i*k + j)*C + c], zero outside the input
// (the padding is applied after the optional input BN+act, as in the unfused graph).
static void im2col_rows(float* col, const float* xn, const ConvShape& s, int64_t r0, int64_t rows, const InBn* bn) {
  const int C = s.C, k = s.k;
  const int64_t kkC = int64_t(k) * k * C;
  for (int64_t r = 0; r < rows; ++r) {
    const int p = int((r0 + r) / s.Q), q = int((r0 + r) % s.Q);
    float* d = col + r * kkC;
    for (int i = 0; i < k; ++i) {
      const int h = p * s.stride - s.pad + i;
      for (int j = 0; j < k; ++j, d += C) {
        const int ww = q * s.stride - s.pad + j;
        if (h < 0 || h >= s.H || ww < 0 || ww >= s.W) {
          for (int c = 0; c < C; ++c) d[c] = 0.0f;
        } else {
          const float* src = xn + (int64_t(h) * s.W + ww) * C;
          if (bn)
            for (int c = 0; c < C; ++c) d[c] = act_apply_scalar(bn->act, src[c] * bn->scale[c] + bn->shift[c]);
          else
            for (int c = 0; c < C; ++c) d[c] = src[c];
        }
      }
    }
  }
}

// col2im: dxn[h][w][c] += dcol[r][(i*k + j)*C + c] for the taps inside the input.
static void col2im_rows(float* dxn, const float* dcol, const ConvShape& s, int64_t r0, int64_t rows) {
  const int C = s.C, k = s.k;
  const int64_t kkC = int64_t(k) * k * C;
  for (int64_t r = 0; r < rows; ++r) {
    const int p = int((r0 + r) / s.Q), q = int((r0 + r) % s.Q);
    const float* d = dcol + r * kkC;
    for (int i = 0; i < k; ++i) {
      const int h = p * s.stride - s.pad + i;
      for (int j = 0; j < k; ++j, d += C) {
        const int ww = q * s.stride - s.pad + j;
        if (h < 0 || h >= s.H || ww < 0 || ww >= s.W) continue;
        float* dst = dxn + (int64_t(h) * s.W + ww) * C;
        int c = 0;
        for (; c + L <= C; c += L) store(dst + c, add(load(dst + c), load(d + c)));
        for (; c < C; ++c) dst[c] += d[c];
      }
    }
  }
}

static void conv_general_forward(Ctx& ctx, float* y, const float* x, const float* w, const ConvShape& s,
                                 const InBn* bn, float* mean, float* invstd, float eps) {
  const int kkC = s.k * s.k * s.C;
  const int64_t PQ = int64_t(s.P) * s.Q, HWC = int64_t(s.H) * s.W * s.C;
  const Tile t = choose_tile(int64_t(s.N) * PQ, s.K);
  const PackedB B = pack_b(ctx, 0, w, 1, kkC, kkC, s.K, t);
  const int64_t SB = rows_block(t.MR);
  const int64_t per_img = ceil_div(PQ, SB);
  const bool stats = mean != nullptr;
  const int64_t ntask = int64_t(s.N) * per_img;
  const int64_t grain = stats ? slot_grain_spread(ntask, 8, ctx.nthreads) : 1;
  OutStats st;
  if (stats) st.init(ctx, B.npanels * B.NP, slot_count(ntask, grain));
  parallel_for(*ctx.pool, ntask, grain, [&](int64_t b, int64_t e, int tid) {
    float* col = ctx.ws->thread(tid, 0, size_t(SB) * kkC);
    float* tail = ctx.ws->thread(tid, 1, size_t(t.MR) * kkC);
    for (int64_t task = b; task < e; ++task) {
      const int64_t n = task / per_img, r0 = (task % per_img) * SB, rows = imin(SB, PQ - r0);
      float* fs = stats ? st.block(ctx, tid) : nullptr;
      im2col_rows(col, x + n * HWC, s, r0, rows, bn);
      gemm_rows_block(B, col, kkC, rows, y + (n * PQ + r0) * s.K, s.K, fs, stats ? fs + st.NPt : nullptr, tail);
      if (stats) st.flush(fs, int(b / grain));
    }
  });
  if (stats) st.finish(mean, invstd, eps, int64_t(s.N) * PQ, s.K);
}

static void conv_general_backward(Ctx& ctx, float* dx, float* dw, const float* dy, const float* x, const float* w,
                                  const ConvShape& s, const InBn* bn, const BnBwd* ob, InBnSums* sums) {
  const int kkC = s.k * s.k * s.C, K = s.K;
  const int64_t PQ = int64_t(s.P) * s.Q, HWC = int64_t(s.H) * s.W * s.C;
  PackedB Bx{};
  if (dx) Bx = pack_b(ctx, 1, w, kkC, 1, K, kkC, choose_tile(int64_t(s.N) * PQ, kkC));
  const Tile tw = choose_tile(K, kkC);
  const int64_t SB = kDwRows;
  float* part[Workspace::kMaxThreads];
  bool touched[Workspace::kMaxThreads];
  for (int i = 0; i < ctx.nthreads; ++i) {
    part[i] = ctx.ws->thread(i, 0, size_t(K) * kkC);
    touched[i] = false;
  }
  const int MRx = dx ? Bx.t.MR : 1;
  // one image per task: col2im of neighbouring pixels overlaps, so an image belongs to one thread
  parallel_for(*ctx.pool, s.N, 1, [&](int64_t b, int64_t e, int tid) {
    float* p = part[tid];
    if (!touched[tid]) {
      for (int64_t i = 0; i < int64_t(K) * kkC; ++i) p[i] = 0.0f;
      touched[tid] = true;
    }
    float* col = ctx.ws->thread(tid, 2, size_t(SB) * kkC);
    float* dcol = ctx.ws->thread(tid, 3, size_t(SB) * kkC);
    const int64_t dw_scratch = dw_block_scratch(tw, K, kkC, SB, K, kkC);
    float* tail = ctx.ws->thread(tid, 1, size_t(imax<int64_t>(int64_t(MRx) * K, dw_scratch)));
    float* gbuf = ob ? ctx.ws->thread(tid, 6, size_t(SB) * K) : nullptr;
    for (int64_t n = b; n < e; ++n) {
      float* dxn = dx ? dx + n * HWC : nullptr;
      if (dxn)
        for (int64_t i = 0; i < HWC; ++i) dxn[i] = 0.0f;
      for (int64_t r0 = 0; r0 < PQ; r0 += SB) {
        const int64_t rows = imin(SB, PQ - r0);
        const float* dyr = dy + (n * PQ + r0) * K;
        if (ob) {
          bn_bwd_apply(gbuf, dy, n * PQ + r0, rows, *ob);
          dyr = gbuf;
        }
        im2col_rows(col, x + n * HWC, s, r0, rows, bn);
        gemm_dw_block(tw, dyr, K, K, col, kkC, kkC, rows, p, kkC, tail);
        if (dxn) {
          gemm_rows_block(Bx, dyr, K, rows, dcol, kkC, nullptr, nullptr, tail);
          col2im_rows(dxn, dcol, s, r0, rows);
        }
      }
      if (sums) sums->add(tid, dxn, x + n * HWC, int64_t(s.H) * s.W, ChanLayout(s.C), bn->scale, bn->shift, bn->act);
    }
  }, /*ordered=*/true);  // per-thread dW partials (K x k*k*C floats each)
  reduce_partials(ctx, dw, part, touched, int64_t(K) * kkC);
}

// Direct stem kernels (conv_stem.h); false when the shape is not a stem shape.
static bool stem_forward(Ctx& ctx, float* y, float* mean, float* invstd, float eps, const float* x, const float* w,
                         const ConvShape& s);
// Backend::conv_forward_fused (conv_forward: in_bn and mean null).
static void conv_forward(Ctx& ctx, float* y, float* mean, float* invstd, float eps, const float* x, const BnAct* in_bn,
                         const float* w, const ConvShape& s) {
  if (!in_bn && stem_forward(ctx, y, mean, invstd, eps, x, w, s)) return;
  InBn ib;
  const InBn* bn = make_in_bn(ctx, ib, in_bn, s.C);
  if (s.k == 1 && s.stride == 1 && s.pad == 0)
    conv1x1_forward(ctx, y, x, w, int64_t(s.N) * s.H * s.W, s.C, s.K, bn, mean, invstd, eps);
  else
    conv_general_forward(ctx, y, x, w, s, bn, mean, invstd, eps);
}

static bool stem_backward_dw(Ctx& ctx, float* dw, const float* dy, const BnBwd* ob, const float* x,
                             const ConvShape& s);

// Backend::conv_backward_fused (conv_backward: all fusions null).
static void conv_backward(Ctx& ctx, float* dx, float* dw, float* in_dgamma, float* in_dbeta, const float* dy,
                          const BnGrad* out_bn, const float* x, const BnAct* in_bn, const float* w,
                          const ConvShape& s) {
  BnBwd obb;
  const BnBwd* ob = make_bn_bwd(ctx, &obb, out_bn, s.K, int64_t(s.N) * s.P * s.Q);
  if (!dx && !in_bn && stem_backward_dw(ctx, dw, dy, ob, x, s)) return;
  InBn ib;
  const InBn* bn = make_in_bn(ctx, ib, in_bn, s.C);
  InBnSums sums;
  const bool want_sums = in_dgamma && bn && dx;
  if (want_sums) sums.init(ctx, s.C, in_bn->mean);
  if (s.k == 1 && s.stride == 1 && s.pad == 0)
    conv1x1_backward(ctx, dx, dw, dy, x, w, int64_t(s.N) * s.H * s.W, s.C, s.K, bn, ob, want_sums ? &sums : nullptr);
  else
    conv_general_backward(ctx, dx, dw, dy, x, w, s, bn, ob, want_sums ? &sums : nullptr);
  if (want_sums) sums.finish(in_dgamma, in_dbeta, in_bn->invstd, s.C);
}

}  // namespace GNAS_ISA
}  // namespace cpu
}  // namespace gnas
