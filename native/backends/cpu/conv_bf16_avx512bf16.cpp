// The bfloat16 1x1 convolution for scoring (Backend::conv_forward_fused_bf16) on CPUs with
// AVX512-BF16. Built with the AVX-512 flags plus -mavx512bf16 (CMake, by file name) and called
// only after cpu_backend.cpp has checked the CPU for avx512bf16.
//
// Same shape of computation as the FP32 rows-form GEMM (gemm.h, conv_dense.h), in bfloat16 pairs:
//   A: each block of MB pixel rows is converted once (input BN+act applied first when fused) into
//      per-thread bfloat16 rows of Cs = ceil(C / 16) * 16 values, zero past C; rows past the end
//      of the block up to a whole tile are zero, so the kernel never reads outside the buffer.
//   B: W[K][C] is packed into panels of NP = NV * 16 output channels; panel row p holds, for each
//      channel n, the pair (W[n][2p], W[n][2p + 1]), which is the operand layout of vdpbf16ps.
//   kernel: per pair of input channels, NV loads of B and one 32-bit broadcast of A per row feed
//      MR * NV vdpbf16ps (two multiply-adds per lane each, float accumulation), so the tile does
//      the work of 2 * MR * NV FP32 FMAs per step; the epilogue (store_tile, gemm.h) is the FP32
//      one, batch statistics included.
// Storage (Bf16Io): X may arrive in bfloat16 (rows are widened on their way into A, or read as A
// directly) and Y may be stored in bfloat16. Also here: the block output with bfloat16 storage
// (bn_act_residual_bf16); the depthwise forward is depthwise_bf16_avx512bf16.cpp.
// Rounding: inputs are rounded to nearest even (vcvtneps2bf16, and the same rule in scalar code
// for the weights), which is what the reference (Backend's default) emulates.
#define GNAS_ISA_AVX512 1
#include "backends/cpu/kernel_table.h"
#include "backends/cpu/bf16_avx512.h"

namespace gnas {
namespace cpu {
namespace avx512 {

typedef void (*UkrBf16Fn)(int kp, const bf16* a, int64_t lda, const bf16* b, int64_t ldb, void* c, int64_t ldc,
                          int mr, int nlast, bool accum, float* ssum, float* ssq, const char* pf);

// c[i][n] (+)= sum_{p < kp} A(i, 2p) B(2p, n) + A(i, 2p+1) B(2p+1, n) for rows i < mr; a: bfloat16
// rows (stride lda, in elements) starting at the slice's first pair; b: the panel's rows of pairs
// (stride ldb elements: the panel's full width, also when the last panel uses fewer vectors).
// c: float, or (OUT16: the whole reduction in one call, accum false) bfloat16. PF: the read-ahead
// of the next block (gemm.h, AheadPrefetch), one line from pf every kAheadEvery steps.
template <int MR, int NV, bool OUT16, bool PF>
static void ukr_bf16(int kp, const bf16* a, int64_t lda, const bf16* b, int64_t ldb, void* c, int64_t ldc, int mr,
                     int nlast, bool accum, float* ssum, float* ssq, const char* pf) {
  vf acc[MR][NV];
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = zero();
  {  // the tile's output lines, fetched while its products run (see gemm.h, ukr)
    constexpr int64_t esize = OUT16 ? 2 : 4;
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) {
      if (i >= mr) break;
#pragma GCC unroll 4
      for (int v = 0; v < NV; v += (OUT16 ? 2 : 1))
        __builtin_prefetch(static_cast<char*>(c) + (i * ldc + v * L) * esize, 1, 3);
    }
  }
  for (int p = 0; p < kp; ++p) {
    if constexpr (PF)
      if (p % kAheadEvery == 0) __builtin_prefetch(pf + (p / kAheadEvery) * 64, 0, 2);  // into L2
    __m512bh bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = (__m512bh)_mm512_loadu_si512(b + v * 2 * L);
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) {
      int32_t pair;
      std::memcpy(&pair, a + i * lda, sizeof pair);
      const __m512bh ai = (__m512bh)_mm512_set1_epi32(pair);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_dpbf16_ps(acc[i][v], ai, bv[v]);
    }
    a += 2;
    b += ldb;
  }
  // OUT16: rounded straight into the bfloat16 output (bit-identical to storing the float tile and
  // narrowing it; on the short reductions of the expand convs, C = 16..40, that round trip through
  // a float buffer cost as much as the products)
  if constexpr (OUT16) store_tile<MR, NV, Bf16Store>(acc, static_cast<bf16*>(c), ldc, mr, nlast, false, ssum, ssq);
  else store_tile<MR, NV>(acc, static_cast<float*>(c), ldc, mr, nlast, accum, ssum, ssq);
}

template <int MR, bool OUT16, bool PF>
static UkrBf16Fn ukr_bf16_pick(int nv) {
  if constexpr (MR * 1 <= 32) if (nv == 1) return &ukr_bf16<MR, 1, OUT16, PF>;
  if constexpr (MR * 2 <= kMaxAcc) if (nv == 2) return &ukr_bf16<MR, 2, OUT16, PF>;
  if constexpr (MR * 3 <= kMaxAcc) if (nv == 3) return &ukr_bf16<MR, 3, OUT16, PF>;
  if constexpr (MR * 4 <= kMaxAcc) if (nv == 4) return &ukr_bf16<MR, 4, OUT16, PF>;
  return nullptr;
}
template <bool OUT16, bool PF>
static UkrBf16Fn ukr_bf16_for(int MR, int nv) {
  switch (MR) {
    case kTileMR[1]: return ukr_bf16_pick<kTileMR[1], OUT16, PF>(nv);
    case kTileMR[2]: return ukr_bf16_pick<kTileMR[2], OUT16, PF>(nv);
    case kTileMR[3]: return ukr_bf16_pick<kTileMR[3], OUT16, PF>(nv);
    case kTileMR[4]: return ukr_bf16_pick<kTileMR[4], OUT16, PF>(nv);
  }
  return nullptr;
}

// dst[r][0..Cs) = bfloat16 of act(src * scale + shift) (or of src when bn is null), zero past C;
// src stored as In (F32Io or Bf16Store).
template <int ACT, class In>
static void rows_to_bf16_t(bf16* dst, int64_t Cs, const typename In::T* src, int64_t rows, int C, const InBn* bn) {
  const int nv = ceil_div(C, L), ctail = C - (nv - 1) * L;
  const tmask tm = tail_mask(ctail);
  for (int64_t r = 0; r < rows; ++r) {
    const typename In::T* sr = src + r * C;
    bf16* dr = dst + r * Cs;
    for (int v = 0; v < nv; ++v) {
      vf x = (v == nv - 1 && ctail < L) ? In::ld(sr + v * L, tm) : In::ld(sr + v * L);
      // scale and shift are zero past C, and act(0) = 0 for every activation
      if (bn) x = act_apply<ACT>(fmadd(x, load(bn->scale + v * L), load(bn->shift + v * L)));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dr + v * L), (__m256i)_mm512_cvtneps_pbh(x));
    }
  }
}
template <class In>
static void rows_to_bf16(bf16* dst, int64_t Cs, const typename In::T* src, int64_t rows, int C, const InBn* bn) {
  switch (bn ? bn->act : 0) {
    case 1: rows_to_bf16_t<1, In>(dst, Cs, src, rows, C, bn); break;
    case 2: rows_to_bf16_t<2, In>(dst, Cs, src, rows, C, bn); break;
    case 3: rows_to_bf16_t<3, In>(dst, Cs, src, rows, C, bn); break;
    default: rows_to_bf16_t<0, In>(dst, Cs, src, rows, C, bn); break;
  }
}

// rows x K floats (stride K) stored as bfloat16 rows of K values.
static void rows_narrow(bf16* dst, const float* src, int64_t rows, int K) {
  const int nv = ceil_div(K, L), ktail = K - (nv - 1) * L;
  const tmask tm = tail_mask(ktail);
  for (int64_t r = 0; r < rows; ++r)
    for (int v = 0; v < nv; ++v) {
      if (v == nv - 1 && ktail < L) Bf16Store::st(dst + r * K + v * L, load(src + r * K + v * L, tm), tm);
      else Bf16Store::st(dst + r * K + v * L, load(src + r * K + v * L));
    }
}

// Y[M][K] = A[M][C] . W[K][C]^T in bfloat16 products (A = X or act(bn(X))); batch statistics of Y
// when mean is given (as conv1x1_forward). X is stored as In; Y in float, or in bfloat16 when
// y_bf16 (each tile of MR rows is finished in a per-thread float buffer, its statistics taken
// there, then rounded into y: a partial sum is never rounded).
template <class In>
static void conv1x1_forward_bf16_impl(Ctx& ctx, float* y, bool y_bf16, const typename In::T* x, const float* w,
                                      int64_t M, int C, int K, const InBn* bn, float* mean, float* invstd, float eps) {
  const Tile t = choose_tile(M, K);
  const int MR = t.MR, NV = t.NV, NP = NV * L;
  const int nvec = ceil_div(K, L), npanels = ceil_div(nvec, NV);
  const int nlast_all = K - (nvec - 1) * L;
  const int kp = ceil_div(C, 2);                  // pairs of input channels
  constexpr bool kBf16In = sizeof(typename In::T) == sizeof(bf16);
  const int64_t Cs = int64_t(ceil_div(C, L)) * L;  // bfloat16 row stride of A
  // B panels: npanels x kp x NP x 2 bfloat16 (a float slot holds two)
  bf16* B = reinterpret_cast<bf16*>(ctx.ws->shared(0, size_t(npanels) * kp * NP));
  for (int j = 0; j < npanels; ++j)
    for (int p = 0; p < kp; ++p) {
      bf16* d = B + (int64_t(j) * kp + p) * NP * 2;
      for (int n = 0; n < NP; ++n) {
        const int k = j * NP + n;
        const bool in = k < K;
        d[2 * n] = in ? to_bf16(w[int64_t(k) * C + 2 * p]) : bf16(0);
        d[2 * n + 1] = (in && 2 * p + 1 < C) ? to_bf16(w[int64_t(k) * C + 2 * p + 1]) : bf16(0);
      }
    }
  // reduction slices keep the KCP x NP panel slice near 24 KB, as kc_block does for FP32
  const int kcp_max = imax(32, 24 * 1024 / (NP * 4));
  const int KCP = ceil_div(kp, ceil_div(kp, kcp_max));
  const bool small_b = int64_t(kp) * npanels * NP * 4 <= 16 * 1024;
  const int64_t MB = rows_block(MR);
  const int64_t nblk = ceil_div(M, MB);
  const bool stats = mean != nullptr;
  // as conv1x1_forward: with statistics, about 8 chunks of several blocks per thread
  const int64_t grain = stats ? slot_grain_spread(nblk, 8, ctx.nthreads) : 1;
  OutStats st;
  if (stats) st.init(ctx, npanels * NP, slot_count(nblk, grain));
  parallel_for(*ctx.pool, nblk, grain, [&](int64_t b, int64_t e, int tid) {
    const int64_t MBp = ceil_div<int64_t>(MB, MR) * MR;
    bf16* abuf = reinterpret_cast<bf16*>(ctx.ws->thread(tid, 0, size_t(MBp * Cs / 2)));
    float* ytile = y_bf16 ? ctx.ws->thread(tid, 1, size_t(MR) * K) : nullptr;
    for (int64_t blk = b; blk < e; ++blk) {
      const int64_t m0 = blk * MB, rows = imin(MB, M - m0);
      const int64_t rows_p = ceil_div<int64_t>(rows, MR) * MR;
      // A: the rows of x themselves when they already are bfloat16 pairs (stored in bfloat16, no
      // input BN, an even C) and the block is whole tiles (the kernel reads MR rows per tile);
      // otherwise converted into abuf.
      const bf16* A = abuf;
      int64_t lda = Cs;
      if (kBf16In && !bn && C % 2 == 0 && rows_p == rows) {
        A = reinterpret_cast<const bf16*>(x + m0 * C);
        lda = C;
      } else {
        rows_to_bf16<In>(abuf, Cs, x + m0 * C, rows, C, bn);
        if (rows_p > rows) std::memset(abuf + rows * Cs, 0, size_t(rows_p - rows) * Cs * sizeof(bf16));
      }
      float* fs = stats ? st.block(ctx, tid) : nullptr;
      float* yb = y + m0 * K;
      // read-ahead of the rows of x of this thread's next block
      AheadPrefetch pf;
      int64_t n0, nrows;
      if (next_block_rows(blk, e, ctx.nthreads, nblk, MB, M, n0, nrows)) pf.add_rows(x, n0, nrows, C * int64_t(sizeof(*x)));
      // c: where the tile's row i0 goes (row stride K), float, or bfloat16 for out16 (the whole
      // reduction in one call)
      auto tile = [&](void* c, bool out16, int64_t i0, int j, int p0, int kc, bool accum, bool last) {
        const int nv = imin(NV, nvec - j * NV);
        const char* q = pf.take_steps(kc);
        const UkrBf16Fn k = out16 ? (q ? ukr_bf16_for<true, true>(MR, nv) : ukr_bf16_for<true, false>(MR, nv))
                                  : (q ? ukr_bf16_for<false, true>(MR, nv) : ukr_bf16_for<false, false>(MR, nv));
        const int nlast = (j == npanels - 1) ? nlast_all : L;
        float* s1 = (last && fs) ? fs + j * NP : nullptr;
        float* s2 = (last && fs) ? fs + st.NPt + j * NP : nullptr;
        void* cj = out16 ? static_cast<void*>(static_cast<bf16*>(c) + j * NP) : static_cast<float*>(c) + j * NP;
        k(kc, A + i0 * lda + 2 * p0, lda, B + (int64_t(j) * kp + p0) * NP * 2, NP * 2, cj, K,
          int(imin<int64_t>(MR, rows - i0)), nlast, accum, s1, s2, q);
      };
      if (y_bf16 && kp <= KCP) {
        // one reduction slice (the expand convs): tiles are rounded straight into y
        bf16* yh = reinterpret_cast<bf16*>(y) + m0 * K;
        for (int64_t i0 = 0; i0 < rows; i0 += MR)
          for (int j = 0; j < npanels; ++j) tile(yh + i0 * K, true, i0, j, 0, kp, false, true);
      } else if (y_bf16) {
        bf16* yh = reinterpret_cast<bf16*>(y) + m0 * K;
        for (int64_t i0 = 0; i0 < rows; i0 += MR) {
          for (int p0 = 0; p0 < kp; p0 += KCP) {
            const int kc = imin(KCP, kp - p0);
            for (int j = 0; j < npanels; ++j) tile(ytile, false, i0, j, p0, kc, p0 > 0, p0 + kc >= kp);
          }
          rows_narrow(yh + i0 * K, ytile, imin<int64_t>(MR, rows - i0), K);
        }
      } else if (small_b) {
        // all of B fits in a third of L1: each output row tile is written in one burst
        for (int64_t i0 = 0; i0 < rows; i0 += MR)
          for (int j = 0; j < npanels; ++j) tile(yb + i0 * K, false, i0, j, 0, kp, false, true);
      } else {
        for (int p0 = 0; p0 < kp; p0 += KCP) {
          const int kc = imin(KCP, kp - p0);
          for (int j = 0; j < npanels; ++j)
            for (int64_t i0 = 0; i0 < rows; i0 += MR) tile(yb + i0 * K, false, i0, j, p0, kc, p0 > 0, p0 + kc >= kp);
        }
      }
      if (stats) st.flush(fs, int(b / grain));
    }
  });
  if (stats) st.finish(mean, invstd, eps, M, K);
}

}  // namespace avx512

void conv1x1_forward_bf16(Ctx& ctx, float* y, float* mean, float* invstd, float eps, const float* x,
                          const BnAct* in_bn, const float* w, const ConvShape& s, Bf16Io io) {
  avx512::InBn ib;
  const avx512::InBn* bn = avx512::make_in_bn(ctx, ib, in_bn, s.C);
  const int64_t M = int64_t(s.N) * s.H * s.W;
  if (io.in)
    avx512::conv1x1_forward_bf16_impl<avx512::Bf16Store>(ctx, y, io.out, reinterpret_cast<const uint16_t*>(x), w, M,
                                                          s.C, s.K, bn, mean, invstd, eps);
  else
    avx512::conv1x1_forward_bf16_impl<avx512::F32Io>(ctx, y, io.out, x, w, M, s.C, s.K, bn, mean, invstd, eps);
}

void bn_act_residual_bf16(Ctx& ctx, float* y, const float* x, const float* mean, const float* invstd,
                          const float* gamma, const float* beta, int act, const float* residual, int64_t M, int C,
                          Bf16Io io) {
  using avx512::Bf16Store;
  using avx512::F32Io;
  const uint16_t* r16 = reinterpret_cast<const uint16_t*>(residual);
  uint16_t* y16 = reinterpret_cast<uint16_t*>(y);
  const uint16_t* x16 = reinterpret_cast<const uint16_t*>(x);  // io.out: x is stored so too
  if (io.in && io.out)
    avx512::bn_act_residual<Bf16Store, Bf16Store, Bf16Store>(ctx, y16, x16, mean, invstd, gamma, beta, act, r16, M, C);
  else if (io.in) avx512::bn_act_residual<Bf16Store, F32Io>(ctx, y, x, mean, invstd, gamma, beta, act, r16, M, C);
  else if (io.out)
    avx512::bn_act_residual<F32Io, Bf16Store, Bf16Store>(ctx, y16, x16, mean, invstd, gamma, beta, act, residual, M, C);
  else avx512::bn_act_residual<F32Io, F32Io>(ctx, y, x, mean, invstd, gamma, beta, act, residual, M, C);
}

}  // namespace cpu
}  // namespace gnas
