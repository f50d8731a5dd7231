// The GEMM core of the dense convolutions and the fully connected layer (included by
// dense_gemm.cuh only). One kernel template computes
//
//   C[m][n] = sum_r A(m, r) * B(r, n),   m < M, n < N, r in one reduction chunk,
//
// for every layout the dense ops need. Each operand is a logical row-major matrix X[rows][cols] whose
// rows are contiguous in memory (an Operand): either a plain matrix (kDirect, row stride ld) or
// the implicit im2col matrix of an NHWC conv input (kConv: row = output pixel (n, p, q), col =
// (i, j, c) tap and channel, zero outside the image), optionally with a per-channel affine +
// activation applied on load (the fused input BN). An operand enters the GEMM either
//   - as a RowOp: GEMM index (m or n) = its row, reduction index r = its col (A = x[M][C] in a
//     forward, B = w[K][C] read "NT"), or
//   - as a ColOp: reduction index r = its row, GEMM index = its col (B = w[K][C] read "NN" in the
//     input gradient, both operands of the weight gradient, whose reduction runs over the pixels).
// Loads are float4 along the contiguous cols when the operand allows it (Operand::vec, checked per
// vector against the bounds), else scalar; everything outside the matrix reads as 0, so no size
// has to be a multiple of a tile.
//
// Tiles go through shared memory in one canonical layout, As[r][m] and Bs[r][n] (BK rows of BM /
// BN values, padded), double-buffered with register staging (global loads of tile t+1 are issued
// before the math on tile t; one __syncthreads per tile). The math is either
//   - SIMT FP32 (exact float FMAs): each thread owns a TM x TN register block (8x8 in 128x128), fed
//     by float4 reads of As / Bs, or
//   - tensor cores through nvcuda::wmma with FP32 accumulation: TF32 m16n16k8 (values rounded to
//     tf32 when staged to shared memory) or BF16 m16n16k16 (staged as __nv_bfloat16); each warp
//     owns a WM x WN block of 16x16 accumulator fragments; As is a col_major matrix_a, Bs a
//     row_major matrix_b.
// The epilogue goes through shared memory as well (Cs[BM][BN], aliasing the stage buffers):
// coalesced float4 stores where aligned, a row map (identity, or the input pixel of a strided 1x1
// conv for its input gradient), an optional bias, and optional per-column partial statistics of
// the tile (sum y and sum y^2 over its rows, float over at most 64 rows, then double) written to
// psum/psq[blockIdx.x][N] for a fixed-order final reduction. A split reduction (blockIdx.z = chunk
// of `chunk` reduction indices) writes its own partial C at out + z * split_stride; dense_gemm.cu
// sums the partials in a fixed order. Nothing here uses atomics, so results are bit-identical run
// to run.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <mma.h>

#include <cstdint>
#include <type_traits>

#include "backends/cuda/cuda_common.cuh"

namespace gnas {
namespace cuda {
namespace gemm {

// ---- activations (float; same conventions as reference_ops.h act_apply) ----
__device__ __forceinline__ float act_apply(float z, int act) {
  switch (act) {
    case 1: return z > 0.0f ? z : 0.0f;
    case 2: return z <= 0.0f ? 0.0f : (z >= 6.0f ? 6.0f : z);
    case 3: {
      const float r = z + 3.0f <= 0.0f ? 0.0f : (z + 3.0f >= 6.0f ? 6.0f : z + 3.0f);
      return z * r * (1.0f / 6.0f);
    }
    default: return z;
  }
}

// ---- operands ----
constexpr int kDirect = 0;  // X[row][col] = p[row * ld + col]
constexpr int kConv = 1;    // X[pixel][(i * k + j) * C + c] = x[n][p*stride-pad+i][q*stride-pad+j][c] or 0

struct Operand {
  const float* p = nullptr;
  int rows = 0, cols = 0;  // logical extent; everything outside reads as 0
  int64_t ld = 0;          // kDirect: row stride in floats
  // kConv geometry: rows = N*P*Q output pixels, cols = k*k*C.
  int C = 1, H = 1, W = 1, P = 1, Q = 1, k = 1, stride = 1, pad = 0;
  // float4 loads allowed: p 16-byte aligned and (kDirect) ld % 4 == 0 or (kConv) C % 4 == 0, so an
  // aligned group of 4 cols is contiguous and aligned (each vector is still bounds-checked).
  bool vec = false;
  // Optional transform of every in-image element of channel c (kDirect: c = col):
  // v = act(v * scale[c] + shift[c]). Padding stays 0.
  const float* scale = nullptr;
  const float* shift = nullptr;
  int act = 0;
};

// The input pixel of a kConv row (output pixel).
struct PixRow {
  int64_t base;  // offset of image n: n * H * W * C
  int h0, w0;    // top-left input coordinate of the receptive field (may be negative)
};

__device__ __forceinline__ PixRow decode_pixel(const Operand& op, int row) {
  const int pq = op.P * op.Q;  // <= rows <= INT_MAX (checked by the host)
  const int n = row / pq;
  const int rem = row - n * pq;
  const int p = rem / op.Q;
  const int q = rem - p * op.Q;
  PixRow r;
  r.base = int64_t(n) * op.H * op.W * op.C;
  r.h0 = p * op.stride - op.pad;
  r.w0 = q * op.stride - op.pad;
  return r;
}

__device__ __forceinline__ void transform4(float4& v, const Operand& op, int c) {
  v.x = act_apply(fmaf(v.x, op.scale[c + 0], op.shift[c + 0]), op.act);
  v.y = act_apply(fmaf(v.y, op.scale[c + 1], op.shift[c + 1]), op.act);
  v.z = act_apply(fmaf(v.z, op.scale[c + 2], op.shift[c + 2]), op.act);
  v.w = act_apply(fmaf(v.w, op.scale[c + 3], op.shift[c + 3]), op.act);
}

// One element (row, col) of an operand; the caller guarantees row < rows and col < cols.
template <int MODE>
__device__ __forceinline__ float op_elem(const Operand& op, int row, const PixRow& pr, int col) {
  float v;
  int c;
  if constexpr (MODE == kDirect) {
    (void)pr;
    v = op.p[int64_t(row) * op.ld + col];
    c = col;
  } else {
    (void)row;
    const int tap = col / op.C;
    c = col - tap * op.C;
    const int i = tap / op.k;
    const int j = tap - i * op.k;
    const int h = pr.h0 + i, w = pr.w0 + j;
    if (h < 0 || h >= op.H || w < 0 || w >= op.W) return 0.0f;  // zero padding of the (activated) input
    v = op.p[pr.base + (int64_t(h) * op.W + w) * op.C + c];
  }
  if (op.scale) v = act_apply(fmaf(v, op.scale[c], op.shift[c]), op.act);
  return v;
}

// Four elements (row, col..col+3); the caller guarantees op.vec, col % 4 == 0, col + 3 < cols.
template <int MODE>
__device__ __forceinline__ float4 op_vec(const Operand& op, int row, const PixRow& pr, int col) {
  float4 v;
  int c;
  if constexpr (MODE == kDirect) {
    (void)pr;
    v = *reinterpret_cast<const float4*>(op.p + int64_t(row) * op.ld + col);
    c = col;
  } else {
    (void)row;
    // C % 4 == 0, so the 4 cols share one tap and c % 4 == 0.
    const int tap = col / op.C;
    c = col - tap * op.C;
    const int i = tap / op.k;
    const int j = tap - i * op.k;
    const int h = pr.h0 + i, w = pr.w0 + j;
    if (h < 0 || h >= op.H || w < 0 || w >= op.W) return make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    v = *reinterpret_cast<const float4*>(op.p + pr.base + (int64_t(h) * op.W + w) * op.C + c);
  }
  if (op.scale) transform4(v, op, c);
  return v;
}

// ---- shared-memory staging types ----
struct StageF32 {  // SIMT: exact floats
  using T = float;
  static __device__ __forceinline__ float cvt(float x) { return x; }
};
struct StageTF32 {  // tensor cores, tf32 inputs (round to nearest, ties away, like cvt.rna)
  using T = float;
  static __device__ __forceinline__ float cvt(float x) { return nvcuda::wmma::__float_to_tf32(x); }
};
struct StageBF16 {  // tensor cores, bf16 inputs (round to nearest even)
  using T = __nv_bfloat16;
  static __device__ __forceinline__ __nv_bfloat16 cvt(float x) { return __float2bfloat16_rn(x); }
};

// ---- tile loaders: global -> registers (fetch) -> shared memory (commit) ----
// RowOp loader: tile element (x, r) = op(row = x0 + x, col = r0 + r), stored S[r][x] (transposed).
// Thread t handles float4 vectors v = t + i * NT of the tile, vector v covering row x = v / VR and
// cols (v % VR) * 4 .. + 3: its rows are fixed for the whole reduction, so kConv rows are decoded once.
template <int MODE, int BK, int BX, int NT>
struct RowLoader {
  static constexpr int VR = BK / 4;
  static constexpr int TOTAL = BX * VR;
  static constexpr int NV = (TOTAL + NT - 1) / NT;
  static_assert(BK % 4 == 0, "BK");
  float4 v[NV];
  int row[NV];  // absolute operand row, -1 outside the operand (or no vector for this thread)
  PixRow pr[NV];

  __device__ __forceinline__ void init(const Operand& op, int x0) {
#pragma unroll
    for (int i = 0; i < NV; ++i) {
      const int idx = int(threadIdx.x) + i * NT;
      const int r = x0 + idx / VR;
      row[i] = (idx < TOTAL && r < op.rows) ? r : -1;
      pr[i] = PixRow{0, 0, 0};
      if constexpr (MODE == kConv) {
        if (row[i] >= 0) pr[i] = decode_pixel(op, row[i]);
      }
    }
  }
  // r_end: end of the reduction range (<= op.cols).
  __device__ __forceinline__ void fetch(const Operand& op, int r0, int r_end) {
#pragma unroll
    for (int i = 0; i < NV; ++i) {
      const int idx = int(threadIdx.x) + i * NT;
      const int col = r0 + (idx % VR) * 4;
      if (row[i] < 0) {
        v[i] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      } else if (op.vec && col + 3 < r_end) {
        v[i] = op_vec<MODE>(op, row[i], pr[i], col);
      } else {
        v[i].x = col + 0 < r_end ? op_elem<MODE>(op, row[i], pr[i], col + 0) : 0.0f;
        v[i].y = col + 1 < r_end ? op_elem<MODE>(op, row[i], pr[i], col + 1) : 0.0f;
        v[i].z = col + 2 < r_end ? op_elem<MODE>(op, row[i], pr[i], col + 2) : 0.0f;
        v[i].w = col + 3 < r_end ? op_elem<MODE>(op, row[i], pr[i], col + 3) : 0.0f;
      }
    }
  }
  template <class Stage>
  __device__ __forceinline__ void commit(typename Stage::T* S, int ld) const {
#pragma unroll
    for (int i = 0; i < NV; ++i) {
      const int idx = int(threadIdx.x) + i * NT;
      if (idx < TOTAL) {
        const int x = idx / VR, r = (idx % VR) * 4;
        S[(r + 0) * ld + x] = Stage::cvt(v[i].x);
        S[(r + 1) * ld + x] = Stage::cvt(v[i].y);
        S[(r + 2) * ld + x] = Stage::cvt(v[i].z);
        S[(r + 3) * ld + x] = Stage::cvt(v[i].w);
      }
    }
  }
};

// ColOp loader: tile element (r, x) = op(row = r0 + r, col = x0 + x), stored S[r][x].
// Thread t handles vectors v = t + i * NT, vector v covering row r = v / VX and cols
// (v % VX) * 4 .. + 3; NT % VX == 0, so a thread's cols are fixed (t % VX) and its rows vary.
template <int MODE, int BK, int BX, int NT>
struct ColLoader {
  static constexpr int VX = BX / 4;
  static constexpr int TOTAL = BK * VX;
  static constexpr int NV = (TOTAL + NT - 1) / NT;
  static_assert(BX % 4 == 0 && NT % VX == 0, "ColLoader mapping");
  float4 v[NV];
  int col0;  // first of the thread's 4 absolute operand cols

  __device__ __forceinline__ void init(const Operand& op, int x0) {
    (void)op;
    col0 = x0 + (int(threadIdx.x) % VX) * 4;
  }
  // r_end: end of the reduction range (<= op.rows).
  __device__ __forceinline__ void fetch(const Operand& op, int r0, int r_end) {
#pragma unroll
    for (int i = 0; i < NV; ++i) {
      const int idx = int(threadIdx.x) + i * NT;
      const int r = r0 + idx / VX;
      if (idx >= TOTAL || r >= r_end || col0 >= op.cols) {
        v[i] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        continue;
      }
      PixRow pr{0, 0, 0};
      if constexpr (MODE == kConv) pr = decode_pixel(op, r);
      if (op.vec && col0 + 3 < op.cols) {
        v[i] = op_vec<MODE>(op, r, pr, col0);
      } else {
        v[i].x = op_elem<MODE>(op, r, pr, col0);  // col0 < cols checked above
        v[i].y = col0 + 1 < op.cols ? op_elem<MODE>(op, r, pr, col0 + 1) : 0.0f;
        v[i].z = col0 + 2 < op.cols ? op_elem<MODE>(op, r, pr, col0 + 2) : 0.0f;
        v[i].w = col0 + 3 < op.cols ? op_elem<MODE>(op, r, pr, col0 + 3) : 0.0f;
      }
    }
  }
  template <class Stage>
  __device__ __forceinline__ void commit(typename Stage::T* S, int ld) const {
    const int x = (int(threadIdx.x) % VX) * 4;
#pragma unroll
    for (int i = 0; i < NV; ++i) {
      const int idx = int(threadIdx.x) + i * NT;
      if (idx < TOTAL) {
        typename Stage::T* d = S + (idx / VX) * ld + x;
        if constexpr (sizeof(typename Stage::T) == 4) {
          // S rows are 16-byte aligned (ld % 4 == 0) and x % 4 == 0.
          *reinterpret_cast<float4*>(d) =
              make_float4(Stage::cvt(v[i].x), Stage::cvt(v[i].y), Stage::cvt(v[i].z), Stage::cvt(v[i].w));
        } else {
          d[0] = Stage::cvt(v[i].x);
          d[1] = Stage::cvt(v[i].y);
          d[2] = Stage::cvt(v[i].z);
          d[3] = Stage::cvt(v[i].w);
        }
      }
    }
  }
};

// Operand roles (template tags of the kernel).
template <int MODE>
struct RowOp {
  template <int BK, int BX, int NT>
  using Loader = RowLoader<MODE, BK, BX, NT>;
};
template <int MODE>
struct ColOp {
  template <int BK, int BX, int NT>
  using Loader = ColLoader<MODE, BK, BX, NT>;
};

// ---- tile configurations ----
enum class Kind { Simt, Tf32, Bf16 };

constexpr int round128(int bytes) { return (bytes + 127) / 128 * 128; }

// Shared memory: two stages of As[BK][BM + PAD] and Bs[BK][BN + PAD] (type T), and, aliasing them
// after the main loop, the epilogue's Cs[BM][BN + 4] floats plus 2 * NG * BN floats of statistics.
template <class Derived>
struct CfgSmem {
  static constexpr int smem_bytes() {
    using T = typename Derived::Stage::T;
    constexpr int a = round128(Derived::BK * Derived::LDA * int(sizeof(T)));
    constexpr int b = round128(Derived::BK * Derived::LDB * int(sizeof(T)));
    constexpr int main_loop = 2 * (a + b);
    constexpr int epi = round128(Derived::BM * Derived::LDC * 4) + 2 * Derived::NG * Derived::BN * 4;
    return main_loop > epi ? main_loop : epi;
  }
};

// SIMT FP32: BM x BN block tile, TM x TN per thread (multiples of 4), BK = 16.
template <int BM_, int BN_, int TM_, int TN_>
struct SimtCfg : CfgSmem<SimtCfg<BM_, BN_, TM_, TN_>> {
  static constexpr Kind kind = Kind::Simt;
  using Stage = StageF32;
  static constexpr int BM = BM_, BN = BN_, BK = 16, TM = TM_, TN = TN_;
  static constexpr int NT = (BM / TM) * (BN / TN);
  static constexpr int LDA = BM + 4, LDB = BN + 4, LDC = BN + 4;
  static constexpr int NG = NT >= BN ? NT / BN : 1;
  static_assert(TM % 4 == 0 && TN % 4 == 0 && BM % TM == 0 && BN % TN == 0, "SIMT tile");
};

// Tensor cores: BM x BN block tile, WM x WN per warp (multiples of 16). BK = 16: two k8 steps
// (TF32) or one k16 step (BF16) per tile (BK = 32 for BF16 doubled the staging registers and spilled).
template <Kind K_, int BM_, int BN_, int WM_, int WN_>
struct TcCfg : CfgSmem<TcCfg<K_, BM_, BN_, WM_, WN_>> {
  static constexpr Kind kind = K_;
  using Stage = typename std::conditional<K_ == Kind::Bf16, StageBF16, StageTF32>::type;
  static constexpr int BM = BM_, BN = BN_, WM = WM_, WN = WN_;
  static constexpr int BK = 16;
  static constexpr int KS = K_ == Kind::Bf16 ? 16 : 8;  // k of one mma
  static constexpr int NT = 32 * (BM / WM) * (BN / WN);
  static constexpr int PAD = K_ == Kind::Bf16 ? 8 : 4;  // keeps ldm a multiple of 16 bytes
  static constexpr int LDA = BM + PAD, LDB = BN + PAD, LDC = BN + 4;
  static constexpr int NG = NT >= BN ? NT / BN : 1;
  static_assert(K_ != Kind::Simt, "TcCfg");
  static_assert(WM % 16 == 0 && WN % 16 == 0 && BM % WM == 0 && BN % WN == 0, "warp tile");
};

// ---- kernel arguments ----
struct GemmArgs {
  Operand a, b;
  int M = 0, N = 0;  // C is M x N
  int R = 0;         // reduction length
  int chunk = 0;     // reduction indices per blockIdx.z: >= R without a split, else a multiple of 32
  float* out = nullptr;
  int64_t ldo = 0;
  int64_t split_stride = 0;  // out of chunk z at out + z * split_stride
  bool out_vec = false;      // out 16-byte aligned and ldo % 4 == 0
  // Row map: scatter == 0: row m at out + m * ldo; scatter == 1: m is an output pixel (n, p, q)
  // of a 1x1 conv with stride sS over an sH x sW input (P x Q output) and its row is the input
  // pixel (n, p * sS, q * sS).
  int scatter = 0;
  int sP = 1, sQ = 1, sH = 1, sW = 1, sS = 1;
  const float* bias = nullptr;  // bias[N] added to every row (not with statistics)
  double* psum = nullptr;       // [gridDim.x][N] per-tile column sums of C, or null
  double* psq = nullptr;        // [gridDim.x][N] per-tile column sums of C^2
};

__device__ __forceinline__ int64_t out_row_offset(const GemmArgs& g, int m) {
  if (g.scatter == 0) return int64_t(m) * g.ldo;
  const int pq = g.sP * g.sQ;
  const int n = m / pq;
  const int rem = m - n * pq;
  const int p = rem / g.sQ;
  const int q = rem - p * g.sQ;
  return ((int64_t(n) * g.sH + int64_t(p) * g.sS) * g.sW + int64_t(q) * g.sS) * g.ldo;
}

// ---- the kernel ----
// Grid: x = ceil(M / BM) row tiles, y = ceil(N / BN) column tiles, z = reduction chunks.
template <class Cfg, class AOp, class BOp>
__global__ void __launch_bounds__(Cfg::NT, 2) gemm_kernel(const GemmArgs g) {
  using T = typename Cfg::Stage::T;
  constexpr int BM = Cfg::BM, BN = Cfg::BN, BK = Cfg::BK, NT = Cfg::NT;
  constexpr int LDA = Cfg::LDA, LDB = Cfg::LDB, LDC = Cfg::LDC;
  constexpr int A_BYTES = round128(BK * LDA * int(sizeof(T)));
  constexpr int B_BYTES = round128(BK * LDB * int(sizeof(T)));

  unsigned char* smem = dynamic_smem();
  T* const As0 = reinterpret_cast<T*>(smem);
  T* const As1 = reinterpret_cast<T*>(smem + A_BYTES);
  T* const Bs0 = reinterpret_cast<T*>(smem + 2 * A_BYTES);
  T* const Bs1 = reinterpret_cast<T*>(smem + 2 * A_BYTES + B_BYTES);

  const int tid = int(threadIdx.x);
  const int m0 = int(blockIdx.x) * BM;
  const int n0 = int(blockIdx.y) * BN;
  const int64_t rb = int64_t(blockIdx.z) * g.chunk;  // < R (the host launches ceil(R / chunk) chunks)
  const int r_begin = int(rb < g.R ? rb : g.R);
  const int r_end = int(rb + g.chunk < g.R ? rb + g.chunk : g.R);
  const int ntiles = (r_end - r_begin + BK - 1) / BK;

  typename AOp::template Loader<BK, BM, NT> la;
  typename BOp::template Loader<BK, BN, NT> lb;
  la.init(g.a, m0);
  lb.init(g.b, n0);

  constexpr bool kSimt = Cfg::kind == Kind::Simt;

  if (ntiles > 0) {
    la.fetch(g.a, r_begin, r_end);
    lb.fetch(g.b, r_begin, r_end);
    la.template commit<typename Cfg::Stage>(As0, LDA);
    lb.template commit<typename Cfg::Stage>(Bs0, LDB);
  }
  __syncthreads();

  float* const Cs = reinterpret_cast<float*>(smem);  // epilogue tile, aliases the stage buffers

  if constexpr (kSimt) {
    constexpr int TMs = Cfg::TM, TNs = Cfg::TN;
    constexpr int TX = BN / TNs;            // threads along n
    constexpr int RSTEP = 4 * BM / TMs;     // distance between a thread's float4 row groups
    constexpr int CSTEP = 4 * BN / TNs;     // distance between a thread's float4 col groups
    const int tx = tid % TX, ty = tid / TX;
    float acc[TMs][TNs];
#pragma unroll
    for (int i = 0; i < TMs; ++i)
#pragma unroll
      for (int j = 0; j < TNs; ++j) acc[i][j] = 0.0f;

    for (int t = 0; t < ntiles; ++t) {
      const float* As = (t & 1) ? As1 : As0;
      const float* Bs = (t & 1) ? Bs1 : Bs0;
      const bool more = t + 1 < ntiles;
      if (more) {
        la.fetch(g.a, r_begin + (t + 1) * BK, r_end);
        lb.fetch(g.b, r_begin + (t + 1) * BK, r_end);
      }
#pragma unroll
      for (int kk = 0; kk < BK; ++kk) {
        float a[TMs], b[TNs];
#pragma unroll
        for (int ci = 0; ci < TMs / 4; ++ci) {
          const float4 v = *reinterpret_cast<const float4*>(As + kk * LDA + ci * RSTEP + ty * 4);
          a[ci * 4 + 0] = v.x;
          a[ci * 4 + 1] = v.y;
          a[ci * 4 + 2] = v.z;
          a[ci * 4 + 3] = v.w;
        }
#pragma unroll
        for (int cj = 0; cj < TNs / 4; ++cj) {
          const float4 v = *reinterpret_cast<const float4*>(Bs + kk * LDB + cj * CSTEP + tx * 4);
          b[cj * 4 + 0] = v.x;
          b[cj * 4 + 1] = v.y;
          b[cj * 4 + 2] = v.z;
          b[cj * 4 + 3] = v.w;
        }
#pragma unroll
        for (int i = 0; i < TMs; ++i)
#pragma unroll
          for (int j = 0; j < TNs; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
      }
      if (more) {
        la.template commit<typename Cfg::Stage>((t & 1) ? As0 : As1, LDA);
        lb.template commit<typename Cfg::Stage>((t & 1) ? Bs0 : Bs1, LDB);
      }
      __syncthreads();
    }
    // Registers -> Cs. The last __syncthreads of the loop (or the one before it) ends every read
    // of the stage buffers that Cs aliases.
#pragma unroll
    for (int i = 0; i < TMs; ++i) {
      const int row = (i / 4) * RSTEP + ty * 4 + (i % 4);
#pragma unroll
      for (int cj = 0; cj < TNs / 4; ++cj)
        *reinterpret_cast<float4*>(Cs + row * LDC + cj * CSTEP + tx * 4) =
            make_float4(acc[i][cj * 4 + 0], acc[i][cj * 4 + 1], acc[i][cj * 4 + 2], acc[i][cj * 4 + 3]);
    }
  } else {
    namespace wmma = nvcuda::wmma;
    constexpr int WM = Cfg::WM, WN = Cfg::WN, KS = Cfg::KS;
    constexpr int FM = WM / 16, FN = WN / 16;
    constexpr int WARPS_N = BN / WN;
    using Prec = typename std::conditional<Cfg::kind == Kind::Bf16, __nv_bfloat16, wmma::precision::tf32>::type;
    const int warp = tid / 32;
    const int wm0 = (warp / WARPS_N) * WM, wn0 = (warp % WARPS_N) * WN;
    wmma::fragment<wmma::accumulator, 16, 16, KS, float> acc[FM][FN];
#pragma unroll
    for (int i = 0; i < FM; ++i)
#pragma unroll
      for (int j = 0; j < FN; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

    for (int t = 0; t < ntiles; ++t) {
      const T* As = (t & 1) ? As1 : As0;
      const T* Bs = (t & 1) ? Bs1 : Bs0;
      const bool more = t + 1 < ntiles;
      if (more) {
        la.fetch(g.a, r_begin + (t + 1) * BK, r_end);
        lb.fetch(g.b, r_begin + (t + 1) * BK, r_end);
      }
#pragma unroll
      for (int kk = 0; kk < BK; kk += KS) {
        wmma::fragment<wmma::matrix_a, 16, 16, KS, Prec, wmma::col_major> fa[FM];
        wmma::fragment<wmma::matrix_b, 16, 16, KS, Prec, wmma::row_major> fb[FN];
        // As[r][m] is A (m x r) in column-major order with ldm = LDA; Bs[r][n] is B row-major.
#pragma unroll
        for (int i = 0; i < FM; ++i) wmma::load_matrix_sync(fa[i], As + kk * LDA + wm0 + i * 16, LDA);
#pragma unroll
        for (int j = 0; j < FN; ++j) wmma::load_matrix_sync(fb[j], Bs + kk * LDB + wn0 + j * 16, LDB);
#pragma unroll
        for (int i = 0; i < FM; ++i)
#pragma unroll
          for (int j = 0; j < FN; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
      }
      if (more) {
        la.template commit<typename Cfg::Stage>((t & 1) ? As0 : As1, LDA);
        lb.template commit<typename Cfg::Stage>((t & 1) ? Bs0 : Bs1, LDB);
      }
      __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < FM; ++i)
#pragma unroll
      for (int j = 0; j < FN; ++j)
        wmma::store_matrix_sync(Cs + (wm0 + i * 16) * LDC + wn0 + j * 16, acc[i][j], LDC, wmma::mem_row_major);
  }
  __syncthreads();

  // ---- epilogue: Cs -> out (row map, bias), then statistics ----
  float* const out = g.out + int64_t(blockIdx.z) * g.split_stride;
  constexpr int V4 = BN / 4;
  for (int v = tid; v < BM * V4; v += NT) {
    const int row = v / V4, c = (v % V4) * 4;
    const int m = m0 + row, n = n0 + c;
    if (m >= g.M || n >= g.N) continue;
    float4 val = *reinterpret_cast<const float4*>(Cs + row * LDC + c);
    if (g.bias) {
      val.x += g.bias[n];
      if (n + 1 < g.N) val.y += g.bias[n + 1];
      if (n + 2 < g.N) val.z += g.bias[n + 2];
      if (n + 3 < g.N) val.w += g.bias[n + 3];
    }
    float* dst = out + out_row_offset(g, m) + n;
    if (g.out_vec && n + 3 < g.N) {
      *reinterpret_cast<float4*>(dst) = val;
    } else {
      dst[0] = val.x;
      if (n + 1 < g.N) dst[1] = val.y;
      if (n + 2 < g.N) dst[2] = val.z;
      if (n + 3 < g.N) dst[3] = val.w;
    }
  }

  if (g.psum) {  // uniform over the block
    constexpr int NG = Cfg::NG;             // row groups
    constexpr int RPG = (BM + NG - 1) / NG;  // rows per group (<= 64 in every config)
    float* const red = Cs + BM * LDC;        // [2][NG][BN]
    const int mrows = g.M - m0 < BM ? g.M - m0 : BM;
    for (int t = tid; t < NG * BN; t += NT) {
      const int grp = t / BN, c = t % BN;
      const int rend = (grp + 1) * RPG < mrows ? (grp + 1) * RPG : mrows;
      float s = 0.0f, q = 0.0f;
      for (int row = grp * RPG; row < rend; ++row) {
        const float y = Cs[row * LDC + c];
        s += y;
        q = fmaf(y, y, q);
      }
      red[grp * BN + c] = s;
      red[(NG + grp) * BN + c] = q;
    }
    __syncthreads();
    for (int c = tid; c < BN; c += NT) {
      const int n = n0 + c;
      if (n >= g.N) continue;
      double s = 0.0, q = 0.0;
      for (int grp = 0; grp < NG; ++grp) {
        s += double(red[grp * BN + c]);
        q += double(red[(NG + grp) * BN + c]);
      }
      g.psum[int64_t(blockIdx.x) * g.N + n] = s;
      g.psq[int64_t(blockIdx.x) * g.N + n] = q;
    }
  }
}

}  // namespace gemm
}  // namespace cuda
}  // namespace gnas
