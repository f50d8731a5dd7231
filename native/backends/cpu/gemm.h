// GEMM engine of the CPU backend: the register-blocked micro-kernel, the packing of the weight
// operand, and the two block drivers every dense conv is built from (conv_dense.h):
//
//   rows form   C[m][n] = sum_kk A[m][kk] * B(kk, n)      A row-major (lda), B packed in panels
//               forward  Y[M,K]  = X[M,C]  . W[K,C]^T      (A = activations, B(c, k) = W[k][c])
//               input gr dX[M,C] = dY[M,K] . W[K,C]        (A = dY,          B(k, c) = W[k][c])
//   dw form     D[k][c] += sum_m A[m][k] * B[m][c]         A = dY rows, B = activation rows
//               weight gr dW[K,C] = dY^T[K,M] . X[M,C]      (reduction over the M pixels)
//
// Micro-kernel: an MR x (NV*L) tile of C lives in MR*NV vector registers. Per reduction step it
// loads NV vectors of B and broadcasts MR scalars of A straight from memory (on AVX-512 the
// broadcast folds into the FMA as an embedded {1to16} operand, so it costs a load slot, not a
// shuffle on the FMA port), then issues MR*NV independent FMAs. Tiles per ISA (kTileMR):
//   AVX-512 (32 zmm): NV=1: 24x16, NV=2: 14x32, NV=3: 8x48, NV=4: 6x64  (24..28 accumulators,
//                     enough independent chains to cover 4-cycle FMA latency on 2 ports)
//   AVX2 (16 ymm):    NV=1: 12x8, NV=2: 6x16, NV=3: 4x24                  (12 accumulators)
// The output width N (channels) picks NV per GEMM (choose_tile) so that few lanes are wasted on
// N = 24, 40, 80, ...; the last vector of the last panel is stored with a mask.
//
// A is never packed: its rows are the NHWC pixel rows themselves (contiguous channels), read
// with a row stride, which is how a 1x1 conv avoids any reshuffling of activations. B (weights,
// at most a few hundred KB) is packed once per call into panels of NP = NV*L columns, zero padded,
// so the kernel's B loads are contiguous and unmasked. In the dw form both operands are
// activation rows; they are read in place unless their row stride maps them onto few L1 sets
// (set_conflicting_stride), in which case they are copied into contiguous tiles first.
//
// Cache blocking (rows form): a thread owns a block of MB rows; for each KC-long slice of the
// reduction it walks the panels, and for each panel all MR-row tiles of its block. The B panel
// slice (KC x NP floats, <= 24 KB) therefore stays in L1 while the A tiles stream from L2 (the
// MB x KC block of A, <= 200 KB, sits in L2), and each C element is loaded/stored once per KC
// slice. KC is chosen per NV to keep the B panel slice at about half of a 48 KB L1. When all of
// B fits in a third of L1 (short reductions: the expand convs, C = 16..40) the order flips to
// row tile outermost, so each output row is written in one burst (~15% faster on those shapes).
//
// Read-ahead: the kernel can carry a stream of cache lines to prefetch into L2, one every
// kAheadEvery reduction steps or denser (AheadPrefetch): the conv drivers pass it the rows of the
// thread's next block, whose memory pass would otherwise wait on memory between two GEMMs.
//
// Epilogue: besides storing (or accumulating) the tile, it can add per-column sums of the tile
// and of its squares into a statistics array: the batch statistics of a conv output for the BN
// that follows, taken while the values are still in registers.
#pragma once

namespace gnas {
namespace cpu {
namespace GNAS_ISA {

#if defined(GNAS_ISA_AVX512)
constexpr int kMaxNV = 4;
constexpr int kTileMR[kMaxNV + 1] = {0, 24, 14, 8, 6};
constexpr int kMaxAcc = 28;
#elif defined(GNAS_ISA_AVX2)
constexpr int kMaxNV = 3;
constexpr int kTileMR[kMaxNV + 1] = {0, 12, 6, 4};
constexpr int kMaxAcc = 12;
#else
constexpr int kMaxNV = 3;
constexpr int kTileMR[kMaxNV + 1] = {0, 8, 4, 3};
constexpr int kMaxAcc = 9;
#endif
// Read-ahead (AheadPrefetch): one cache line into L2 every kAheadEvery reduction steps. Every 2
// steps measured best on the W1 training step (Zen 4: every step read the same, every 4 covered
// too little of the next block to gain); into L1 read a little slower than into L2. Where the
// block's GEMMs have too few steps for its next block at that rate (few output channels next to
// a wide memory operand: the 28x28 C16 K96 backward reads 6 lines of dY and of the BN input per
// row for ~2 steps), the density rises to a line every step or two (AheadPrefetch::spread): a
// kernel's PF template argument is the lines it issues per kAheadEvery steps, 0 for none.
constexpr int kAheadEvery = 2;
constexpr int kAheadMaxLevel = 4;
static int64_t ahead_lines(int64_t steps, int level) { return (steps * level + kAheadEvery - 1) / kAheadEvery; }
static_assert(kTileMR[1] <= 32 && kTileMR[2] * 2 <= kMaxAcc && kTileMR[3] * 3 <= kMaxAcc, "tile table");

// Micro-kernel. c[i][n] (+)= sum_{kk < kc} A(i, kk) * b[kk * ldb + n] for i < mr (rows mr..MR-1
// are computed from valid memory but not stored), n < (NV-1)*L + nlast.
//   ACOL = false: A(i, kk) = a[i * lda + kk]   (row-major rows: pixel rows of X or dY)
//   ACOL = true:  A(i, kk) = a[kk * lda + i]   (dw form: a = dY rows, i runs along channels)
//   BMASK: the last B vector is loaded with the tail mask (unpacked B whose rows end there).
// accum: add to C instead of overwriting. ssum/ssq (may be null): per-column sum and sum of
// squares of the stored values are added to ssum[0..NV*L), ssq[0..NV*L) (BN statistics).
typedef void (*UkrFn)(int kc, const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc,
                      int mr, int nlast, bool accum, float* ssum, float* ssq, const char* pf);

// Epilogue of a micro-kernel (this one and the bfloat16 one, conv_bf16_avx512bf16.cpp): stores
// (or adds to) rows i < mr of the MR x NV accumulator tile, the last vector masked to nlast
// lanes, and adds the per-column sum and sum of squares of the stored values to ssum/ssq.
// Out: how C is stored (simd.h's F32Io; the bfloat16 kernel's Bf16Store rounds each value once,
// with accum false: a partial sum is never rounded). Statistics come from the float values.
template <int MR, int NV, class Out = F32Io>
GNAS_INLINE void store_tile(vf (&acc)[MR][NV], typename Out::T* c, int64_t ldc, int mr, int nlast, bool accum,
                            float* ssum, float* ssq) {
  const tmask bm = tail_mask(nlast);
  const bool partial = nlast < L;
  vf s[NV], q[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) s[v] = q[v] = zero();
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i) {
    if (i >= mr) break;
    typename Out::T* cr = c + i * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      vf r = acc[i][v];
      if (v == NV - 1 && partial) {
        if (accum) r = add(r, Out::ld(cr + v * L, bm));
        Out::st(cr + v * L, r, bm);
      } else {
        if (accum) r = add(r, Out::ld(cr + v * L));
        Out::st(cr + v * L, r);
      }
      s[v] = add(s[v], r);
      q[v] = fmadd(r, r, q[v]);
    }
  }
  if (ssum) {
    // lanes past nlast hold zeros (B is zero padded there), so full-width adds are harmless
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      store(ssum + v * L, add(load(ssum + v * L), s[v]));
      store(ssq + v * L, add(load(ssq + v * L), q[v]));
    }
  }
}

template <int MR, int NV, bool ACOL, bool BMASK, int PF = 0, class Out = F32Io>
static void ukr(int kc, const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, int mr,
                int nlast, bool accum, float* ssum, float* ssq, const char* pf) {
  vf acc[MR][NV];
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = zero();
  const tmask bm = tail_mask(nlast);
  // Rows form: the tile's lines of C are fetched while its FMAs run, so its stores need not wait
  // for each line's read for ownership; the outputs of the wide convs (7x7 x 480-768 channels x
  // 128 images, 12-19 MB) are written once, past the L2 (scripts/ab-paired.mjs: eval-mode predict
  // 1.4-3.0% faster). The dw form accumulates into a partial that is in cache.
  if constexpr (!ACOL && !Out::kStreaming) {
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) {
      if (i >= mr) break;
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) __builtin_prefetch(c + i * ldc + v * L, 1, 3);
    }
  }
  for (int kk = 0; kk < kc; ++kk) {
    if constexpr (PF == 1) {
      if (kk % kAheadEvery == 0) __builtin_prefetch(pf + (kk / kAheadEvery) * 64, 0, 2);  // into L2
    } else if constexpr (PF > 1) {
      static_assert(PF % kAheadEvery == 0, "whole lines per step");
#pragma GCC unroll 4
      for (int j = 0; j < PF / kAheadEvery; ++j)
        __builtin_prefetch(pf + (int64_t(kk) * (PF / kAheadEvery) + j) * 64, 0, 2);
    }
    vf bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = (BMASK && v == NV - 1) ? load(b + v * L, bm) : load(b + v * L);
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) {
      const vf ai = broadcast(ACOL ? a + i : a + i * lda);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = fmadd(ai, bv[v], acc[i][v]);
    }
    a += ACOL ? lda : 1;
    b += ldb;
  }
  store_tile<MR, NV, Out>(acc, c, ldc, mr, nlast, accum, ssum, ssq);
}

// Kernel for MR rows and nv vectors (nv <= the NV that MR was chosen for).
template <int MR, bool ACOL, bool BMASK, int PF, class Out>
static UkrFn ukr_pick(int nv) {
  if constexpr (MR * 1 <= 32) if (nv == 1) return &ukr<MR, 1, ACOL, BMASK, PF, Out>;
  if constexpr (MR * 2 <= kMaxAcc) if (nv == 2) return &ukr<MR, 2, ACOL, BMASK, PF, Out>;
  if constexpr (MR * 3 <= kMaxAcc) if (nv == 3) return &ukr<MR, 3, ACOL, BMASK, PF, Out>;
  if constexpr (MR * 4 <= kMaxAcc && kMaxNV >= 4) if (nv == 4) return &ukr<MR, 4, ACOL, BMASK, PF, Out>;
  return nullptr;
}
template <bool ACOL, bool BMASK, int PF = 0, class Out = F32Io>
static UkrFn ukr_for(int MR, int nv) {
  switch (MR) {
    case kTileMR[1]: return ukr_pick<kTileMR[1], ACOL, BMASK, PF, Out>(nv);
    case kTileMR[2]: return ukr_pick<kTileMR[2], ACOL, BMASK, PF, Out>(nv);
    case kTileMR[3]: return ukr_pick<kTileMR[3], ACOL, BMASK, PF, Out>(nv);
#if defined(GNAS_ISA_AVX512)
    case kTileMR[4]: return ukr_pick<kTileMR[4], ACOL, BMASK, PF, Out>(nv);
#endif
  }
  return nullptr;
}
// The kernel that carries a read-ahead at `level` lines per kAheadEvery steps (1, 2 or 4).
template <bool ACOL, class Out = F32Io>
static UkrFn ukr_ahead(int MR, int nv, int level) {
  if (level >= 4) return ukr_for<ACOL, false, 4, Out>(MR, nv);
  if (level == 2) return ukr_for<ACOL, false, 2, Out>(MR, nv);
  return ukr_for<ACOL, false, 1, Out>(MR, nv);
}

struct Tile {
  int MR, NV;
};

// Picks NV (and with it MR) for an output of `rows` x `cols` (cols along the vector lanes). Rules
// measured on the W1 shapes (AVX-512, gnas micro-benchmarks): the wide tiles (8x48, 6x64) beat
// 14x32 whenever the channel count splits into them evenly, most clearly for short reductions
// (expand convs, C = 16..80), where they write each output row in fewer, longer bursts; a panel
// of one vector (remainder 1) wastes most of its tile. So: prefer the NV that divides the vector
// count (3, then 4, then 2), else the one leaving the largest remainder panel; and pay for the
// rows a tile wastes past `rows` (matters for the dw form, where rows = output channels).
static Tile choose_tile(int64_t rows, int cols) {
  const int nvec = ceil_div(cols, L);
  if (nvec == 1) return Tile{kTileMR[1], 1};
  static const int order[3] = {3, 4, 2};
  Tile best{kTileMR[2], 2};
  double best_cost = 1e30;
  for (int oi = 0; oi < 3; ++oi) {
    const int NV = order[oi];
    if (NV > kMaxNV) continue;
    const int MR = kTileMR[NV];
    const int rem = nvec % NV;
    double cost = rem == 0 ? 1.0 : (rem == 1 ? 1.2 : 1.05 + 0.01 * (NV - rem));
    if (nvec < NV) cost = 1.1 + 0.05 * (NV - nvec);  // one narrow panel in a tall-MR tile shape
    cost *= double(ceil_div<int64_t>(rows, MR) * MR) / double(rows);
    if (cost < best_cost - 1e-9) {
      best_cost = cost;
      best = Tile{MR, NV};
    }
  }
  return best;
}

// Packed B: npanels panels of Kd rows x NP floats.
struct PackedB {
  const float* p;
  int Kd, N;
  Tile t;
  int NP, npanels;
};

// Packs panels [j0, j1) of B(kk, n) = src[kk * rs + n * cs] (zero beyond N).
static void pack_b_panels(float* dst, const float* src, int64_t rs, int64_t cs, int Kd, int N, int NP, int j0,
                          int j1) {
  for (int j = j0; j < j1; ++j) {
    float* d = dst + int64_t(j) * Kd * NP;
    const int n0 = j * NP, nn = imin(NP, N - n0);
    if (cs == 1) {
      for (int kk = 0; kk < Kd; ++kk) {
        const float* s = src + kk * rs + n0;
        float* dr = d + int64_t(kk) * NP;
        for (int n = 0; n < nn; ++n) dr[n] = s[n];
        for (int n = nn; n < NP; ++n) dr[n] = 0.0f;
      }
    } else {
      // B(kk, n) with kk contiguous (rs == 1): read each source row once, scatter down the panel
      for (int kk = 0; kk < Kd; ++kk)
        for (int n = nn; n < NP; ++n) d[int64_t(kk) * NP + n] = 0.0f;
      for (int n = 0; n < nn; ++n) {
        const float* s = src + (n0 + n) * cs;
        for (int kk = 0; kk < Kd; ++kk) d[int64_t(kk) * NP + n] = s[kk * rs];
      }
    }
  }
}

// Packs the whole B in parallel into shared workspace slot `slot`.
static PackedB pack_b(Ctx& ctx, int slot, const float* src, int64_t rs, int64_t cs, int Kd, int N, Tile t) {
  PackedB pb;
  pb.Kd = Kd;
  pb.N = N;
  pb.t = t;
  pb.NP = t.NV * L;
  pb.npanels = ceil_div(N, pb.NP);
  float* dst = ctx.ws->shared(slot, size_t(pb.npanels) * Kd * pb.NP);
  pb.p = dst;
  const int np = pb.npanels;
  if (int64_t(Kd) * N < 16384 || np == 1) {
    pack_b_panels(dst, src, rs, cs, Kd, N, pb.NP, 0, np);
  } else {
    parallel_for(*ctx.pool, np, 1, [&](int64_t b, int64_t e, int) {
      pack_b_panels(dst, src, rs, cs, Kd, N, pb.NP, int(b), int(e));
    });
  }
  return pb;
}

// Reduction slice length: keeps the KC x NP B-panel slice near 24 KB (half of a 48 KB L1).
static int kc_block(int Kd, int NV) {
  const int kcmax = imax(64, 24 * 1024 / (NV * L * 4));
  const int nk = ceil_div(Kd, kcmax);
  return ceil_div(Kd, nk);
}

// The read-ahead of a thread's next block of memory operands (the rows of dY and of the BN input
// that the 1x1 backward's BN pass reads, the rows of x that the forward activates), issued from
// inside the micro-kernel calls of the block it is computing: a block's own memory pass otherwise
// runs between two GEMMs at the latency-bound speed of one core, with nothing to overlap it. The
// lines go to L2 a few per reduction step (kAheadEvery), never in bursts: a burst of ~60
// prefetches between kernel calls fills the core's miss buffers and measured no gain (docs/
// performance.md, "Read-ahead of the next block").
struct AheadPrefetch {
  static constexpr int kMaxStreams = 3;
  const char* p[kMaxStreams];
  int64_t lines[kMaxStreams];
  int ns = 0, s = 0;
  int level = 1;  // lines per kAheadEvery reduction steps (ukr's PF)
  // Queues bytes [ptr, ptr + bytes) as whole cache lines.
  void add(const void* ptr, int64_t bytes) {
    if (!ptr || bytes <= 0 || ns == kMaxStreams) return;
    const uintptr_t b = reinterpret_cast<uintptr_t>(ptr) & ~uintptr_t(63);
    const uintptr_t e = reinterpret_cast<uintptr_t>(ptr) + uintptr_t(bytes);
    p[ns] = reinterpret_cast<const char*>(b);
    lines[ns++] = int64_t((e - b + 63) / 64);
  }
  // Rows [row0, row0 + rows) of a row-major tensor of row_bytes bytes per row.
  void add_rows(const void* base, int64_t row0, int64_t rows, int64_t row_bytes) {
    add(static_cast<const char*>(base) + row0 * row_bytes, rows * row_bytes);
  }
  // Sets the density so that the queued lines are all issued within `steps` reduction steps (the
  // steps of the calls that will carry them), at least the base rate, at most kAheadMaxLevel.
  void spread(int64_t steps) {
    int64_t total = 0;
    for (int i = s; i < ns; ++i) total += lines[i];
    level = 1;
    while (level < kAheadMaxLevel && ahead_lines(steps, level) < total) level *= 2;
  }
  // Start of the lines a kernel call of kc reduction steps issues at this density (take).
  const char* take_steps(int kc) { return take(ahead_lines(kc, level)); }
  // Start of the next n lines for one kernel call, or null once all are issued. A call may run a
  // few lines past the end of a stream: a prefetch never faults.
  const char* take(int64_t n) {
    if (s >= ns) return nullptr;
    const char* r = p[s];
    p[s] += n * 64;
    lines[s] -= n;
    if (lines[s] <= 0) ++s;
    return r;
  }
};

// The rows [r0, r0 + rows) of the block a thread takes after block blk (blocks of MB of M rows) of
// a chunk ending before block `end`: the chunk's next block, else blk + T (in an ordered loop the
// thread's next chunk; in an unordered one the likely one); false when there is none.
static bool next_block_rows(int64_t blk, int64_t end, int nthreads, int64_t nblk, int64_t MB, int64_t M,
                            int64_t& r0, int64_t& rows) {
  const int64_t nb = blk + 1 < end ? blk + 1 : blk + nthreads;
  if (nb >= nblk) return false;
  r0 = nb * MB;
  rows = imin(MB, M - r0);
  return true;
}

// The rows-form kernels for MR rows and nv vectors, without and with a read-ahead at `level`, their
// full-vector stores non-temporal when `stream` (F32Stream).
struct RowsKernels {
  UkrFn plain, ahead;
};
static RowsKernels rows_kernels(int MR, int nv, int level, bool stream) {
  if (stream) return {ukr_for<false, false, 0, F32Stream>(MR, nv), ukr_ahead<false, F32Stream>(MR, nv, level)};
  return {ukr_for<false, false>(MR, nv), ukr_ahead<false>(MR, nv, level)};
}

// Whether a rows-form output C (ldc floats per row) may be stored non-temporally: every row starts
// on a cache line and holds whole vectors, so each full-vector store writes one whole line.
static bool gemm_streams_c(const float* C, int64_t ldc) {
  return reinterpret_cast<uintptr_t>(C) % 64 == 0 && (ldc * int64_t(sizeof(float))) % 64 == 0 && ldc % L == 0;
}

// Whether all of B fits in a third of L1 (gemm_rows_block then walks whole rows).
static bool rows_small_b(const PackedB& B) {
  return int64_t(B.Kd) * B.npanels * B.NP * 4 <= 16 * 1024 && B.npanels <= 64;
}
// The reduction steps of gemm_rows_block's kernel calls that can carry a read-ahead.
static int64_t rows_block_steps(const PackedB& B, int64_t rows) {
  const int64_t tiles = rows_small_b(B) ? ceil_div<int64_t>(rows, B.t.MR) : rows / B.t.MR;
  return tiles * B.npanels * B.Kd;
}

// Rows form on one block of rows: C[rows][N] (ldc) = A[rows][Kd] (lda) . B. ssum/ssq: per-thread
// statistics arrays of npanels*NP floats, or null. tailbuf: >= MR * Kd floats of scratch.
// stream: C's full vectors are stored non-temporally where a tile is final (gemm_streams_c says
// when that is allowed; the caller fences before C is read).
static void gemm_rows_block(const PackedB& B, const float* A, int64_t lda, int64_t rows, float* C, int64_t ldc,
                            float* ssum, float* ssq, float* tailbuf, AheadPrefetch* pf = nullptr,
                            bool stream = false) {
  const int MR = B.t.MR, NV = B.t.NV, NP = B.NP, Kd = B.Kd;
  const int nvec = ceil_div(B.N, L);
  const int nlast_all = B.N - (nvec - 1) * L;
  const int KC = kc_block(Kd, NV);
  const int64_t full = rows / MR * MR;
  const int mrt = int(rows - full);
  if (mrt > 0) {
    // the last, partial tile reads its rows from a zero-padded copy, never past the end of A
    for (int i = 0; i < MR; ++i) {
      float* d = tailbuf + int64_t(i) * Kd;
      if (i < mrt) {
        const float* s = A + (full + i) * lda;
        for (int kk = 0; kk < Kd; ++kk) d[kk] = s[kk];
      } else {
        for (int kk = 0; kk < Kd; ++kk) d[kk] = 0.0f;
      }
    }
  }
  if (rows_small_b(B)) {
    // all of B fits in a third of L1: walk whole rows (every panel of a row tile back to back),
    // so that each output row is written in one sequential burst
    UkrFn kj[64], kjp[64];
    int nlj[64];
    const int np = B.npanels;
    for (int j = 0; j < np; ++j) {
      const RowsKernels rk = rows_kernels(MR, imin(NV, nvec - j * NV), pf ? pf->level : 1, stream);
      kj[j] = rk.plain;
      kjp[j] = rk.ahead;
      nlj[j] = (j == B.npanels - 1) ? nlast_all : L;
    }
    for (int64_t i0 = 0; i0 < full + (mrt > 0 ? MR : 0); i0 += MR) {
      const bool t = i0 >= full;
      const float* a = t ? tailbuf : A + i0 * lda;
      const int64_t la = t ? Kd : lda;
      for (int j = 0; j < np; ++j) {
        const char* q = pf ? pf->take_steps(Kd) : nullptr;
        (q ? kjp[j] : kj[j])(Kd, a, la, B.p + int64_t(j) * Kd * NP, NP, C + i0 * ldc + j * NP, ldc, t ? mrt : MR,
                              nlj[j], false, ssum ? ssum + j * NP : nullptr, ssum ? ssq + j * NP : nullptr, q);
      }
    }
    return;
  }
  for (int kb = 0; kb < Kd; kb += KC) {
    const int kc = imin(KC, Kd - kb);
    const bool accum = kb > 0, last = kb + kc >= Kd;
    const bool st = stream && last && !accum;  // one slice: each tile is final when stored
    for (int j = 0; j < B.npanels; ++j) {
      const int nv = imin(NV, nvec - j * NV);
      const int nlast = (j == B.npanels - 1) ? nlast_all : L;
      const RowsKernels rk = rows_kernels(MR, nv, pf ? pf->level : 1, st);
      const UkrFn k = rk.plain, kp = rk.ahead;
      const float* bp = B.p + int64_t(j) * Kd * NP + int64_t(kb) * NP;
      float* cj = C + j * NP;
      float* s1 = (last && ssum) ? ssum + j * NP : nullptr;
      float* s2 = (last && ssum) ? ssq + j * NP : nullptr;
      for (int64_t i0 = 0; i0 < full; i0 += MR) {
        const char* q = pf ? pf->take_steps(kc) : nullptr;
        (q ? kp : k)(kc, A + i0 * lda + kb, lda, bp, NP, cj + i0 * ldc, ldc, MR, nlast, accum, s1, s2, q);
      }
      if (mrt > 0) k(kc, tailbuf + kb, Kd, bp, NP, cj + full * ldc, ldc, mrt, nlast, accum, s1, s2, nullptr);
    }
  }
}

// Whether rows `ld` floats apart should be copied into a contiguous tile before a reduction
// over them: at strides that are a multiple of 256 bytes (64 floats: channel counts 128, 384,
// 576, 768 of the W1 widths) consecutive rows fall into at most a sixteenth of the L1 sets, so a
// 128-row operand that should stay in L1 across the reduction's tiles evicts itself. At other
// strides the rows spread over the sets and the copy costs more than it saves (C, K = 16..96).
static bool set_conflicting_stride(int64_t ld) { return ld % 64 == 0; }

// What gemm_dw_block copies for K output rows, Cw columns and operand strides lda, ldb: the A
// tiles ti >= tp0 of ntiles (all of them at a conflicting lda, else only the last, partial one)
// and, at a conflicting ldb, all B panels.
struct DwPack {
  int ntiles, tp0, npanels;
  bool pb;
  DwPack(Tile t, int K, int Cw, int64_t lda, int64_t ldb)
      : ntiles(ceil_div(K, t.MR)),
        tp0(set_conflicting_stride(lda) ? 0 : K / t.MR),
        npanels(ceil_div(ceil_div(Cw, L), t.NV)),
        pb(set_conflicting_stride(ldb)) {}
  int64_t a_floats(Tile t, int64_t rows) const { return rows * int64_t(ntiles - tp0) * t.MR; }
  // scratch floats for `rows` reduction rows
  int64_t floats(Tile t, int64_t rows) const {
    return a_floats(t, rows) + (pb ? rows * int64_t(npanels) * t.NV * L : 0);
  }
};
static int64_t dw_block_scratch(Tile t, int K, int Cw, int64_t rows, int64_t lda, int64_t ldb) {
  return DwPack(t, K, Cw, lda, ldb).floats(t, rows);
}
// The reduction steps of gemm_dw_block's kernel calls (each carries a read-ahead, if given).
static int64_t dw_block_steps(Tile t, int K, int Cw, int64_t rows) {
  return int64_t(ceil_div(K, t.MR)) * ceil_div(ceil_div(Cw, L), t.NV) * rows;
}

// dw form on one block of rows: D[K][Cw] (ldd) += sum_{m < rows} A[m][k] (lda) * Bm[m][c] (ldb).
// t: tile for rows = K (along MR) and cols = Cw (along lanes). pack: dw_block_scratch floats.
// An operand at a set-conflicting stride is first copied into contiguous, zero-padded tiles: A as
// [K/MR][rows][MR] (the MR values a reduction step broadcasts are adjacent), B as
// [panels][rows][NP]. The last, partial MR tile of A is always copied (zero padded), so the
// kernel never reads past column K of the last row.
static void gemm_dw_block(Tile t, const float* A, int64_t lda, int K, const float* Bm, int64_t ldb, int Cw,
                          int64_t rows, float* D, int64_t ldd, float* pack, AheadPrefetch* pf = nullptr) {
  const int MR = t.MR, NV = t.NV, NP = NV * L;
  const int nvec = ceil_div(Cw, L);
  const int nlast_all = Cw - (nvec - 1) * L;
  const DwPack plan(t, K, Cw, lda, ldb);
  const int ntiles = plan.ntiles, tp0 = plan.tp0, npanels = plan.npanels;
  const bool pb = plan.pb;
  float* ap = pack;                            // [ntiles - tp0][rows][MR]
  float* bp = pack + plan.a_floats(t, rows);   // [npanels][rows][NP] when pb
  if (tp0 < ntiles || pb) {
    for (int64_t m = 0; m < rows; ++m) {
      const float* s = A + m * lda;
      for (int ti = tp0; ti < ntiles; ++ti) {
        float* d = ap + (int64_t(ti - tp0) * rows + m) * MR;
        const int k0 = ti * MR, kn = imin(MR, K - k0);
        for (int i = 0; i < kn; ++i) d[i] = s[k0 + i];
        for (int i = kn; i < MR; ++i) d[i] = 0.0f;
      }
      if (!pb) continue;
      const float* sb = Bm + m * ldb;
      for (int j = 0; j < npanels; ++j) {
        float* d = bp + (int64_t(j) * rows + m) * NP;
        const int n0 = j * NP, nn = imin(NP, Cw - n0);
        int n = 0;
        for (; n + L <= nn; n += L) store(d + n, load(sb + n0 + n));
        for (; n < nn; ++n) d[n] = sb[n0 + n];
        for (; n < NP; ++n) d[n] = 0.0f;
      }
    }
  }
  for (int j = 0; j < npanels; ++j) {
    const int nv = imin(NV, nvec - j * NV);
    const bool lastp = j == npanels - 1;
    const int nlast = lastp ? nlast_all : L;
    const bool masked = !pb && lastp && nlast < L;
    const UkrFn k = masked ? ukr_for<true, true>(MR, nv) : ukr_for<true, false>(MR, nv);
    const UkrFn kp = pf && !masked ? ukr_ahead<true>(MR, nv, pf->level) : nullptr;
    const float* bj = pb ? bp + int64_t(j) * rows * NP : Bm + j * NP;
    const int64_t lb = pb ? NP : ldb;
    float* dj = D + j * NP;
    for (int ti = 0; ti < ntiles; ++ti) {
      const int k0 = ti * MR;
      const float* a = ti >= tp0 ? ap + int64_t(ti - tp0) * rows * MR : A + k0;
      const char* q = kp ? pf->take_steps(int(rows)) : nullptr;
      (q ? kp : k)(int(rows), a, ti >= tp0 ? MR : lda, bj, lb, dj + int64_t(k0) * ldd, ldd, imin(MR, K - k0), nlast,
                   true, nullptr, nullptr, q);
    }
  }
}

}  // namespace GNAS_ISA
}  // namespace cpu
}  // namespace gnas
