// The vector vocabulary the CPU kernels are written in, one definition per instruction set. A
// kernel file (gemm.h, depthwise.h, ...) is written once against these names and compiled three
// times, by isa_avx512.cpp, isa_avx2.cpp and isa_generic.cpp, each of which defines exactly one of
// GNAS_ISA_AVX512 / GNAS_ISA_AVX2 / GNAS_ISA_GENERIC before including this file. Everything lands
// in namespace gnas::cpu::<isa>, so the three copies never share a symbol: an AVX-512 copy of an
// inline function can never be picked by the linker for a caller compiled for plain x86-64 (which
// is also why the kernel headers use no std:: templates, only C functions and these helpers).
//
//   vf      one vector of L floats          tmask   which lanes of a tail vector are live
//   load/store (+ masked forms for the last, partial vector of a channel row)
//   fmadd(a, b, c) = a * b + c (fused where the ISA has FMA)
// GCC 12 warns about the deliberately undefined pass-through operand inside some AVX-512
// intrinsics (_mm512_cvtps_pd, _mm512_extractf64x4_pd) once they are inlined; it is harmless.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <math.h>

#if defined(GNAS_ISA_AVX512)
#define GNAS_ISA avx512
#elif defined(GNAS_ISA_AVX2)
#define GNAS_ISA avx2
#elif defined(GNAS_ISA_GENERIC)
#define GNAS_ISA generic
#else
#error "define one of GNAS_ISA_AVX512, GNAS_ISA_AVX2, GNAS_ISA_GENERIC before including simd.h"
#endif

#define GNAS_INLINE inline __attribute__((always_inline))

namespace gnas {
namespace cpu {
namespace GNAS_ISA {

template <class T>
GNAS_INLINE T imin(T a, T b) { return a < b ? a : b; }
template <class T>
GNAS_INLINE T imax(T a, T b) { return a > b ? a : b; }
template <class T>
GNAS_INLINE T ceil_div(T a, T b) { return (a + b - 1) / b; }

#if defined(GNAS_ISA_AVX512)
// ---------------------------------------------------------------- AVX-512: 16 lanes, 32 registers
constexpr int L = 16;
constexpr int kVecRegs = 32;
typedef __m512 vf;
struct tmask { __mmask16 k; };
GNAS_INLINE tmask tail_mask(int n) { return {__mmask16((1u << n) - 1u)}; }  // n in 1..16
GNAS_INLINE vf load(const float* p) { return _mm512_loadu_ps(p); }
GNAS_INLINE vf load(const float* p, tmask m) { return _mm512_maskz_loadu_ps(m.k, p); }
GNAS_INLINE void store(float* p, vf v) { _mm512_storeu_ps(p, v); }
GNAS_INLINE void store(float* p, vf v, tmask m) { _mm512_mask_storeu_ps(p, m.k, v); }
GNAS_INLINE void store_stream(float* p, vf v) { _mm512_stream_ps(p, v); }  // p 64-byte aligned
GNAS_INLINE vf set1(float a) { return _mm512_set1_ps(a); }
GNAS_INLINE vf broadcast(const float* p) { return _mm512_set1_ps(*p); }
GNAS_INLINE vf zero() { return _mm512_setzero_ps(); }
GNAS_INLINE vf add(vf a, vf b) { return _mm512_add_ps(a, b); }
GNAS_INLINE vf sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
GNAS_INLINE vf mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
GNAS_INLINE vf fmadd(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
GNAS_INLINE vf fnmadd(vf a, vf b, vf c) { return _mm512_fnmadd_ps(a, b, c); }  // c - a * b
GNAS_INLINE vf max(vf a, vf b) { return _mm512_max_ps(a, b); }
GNAS_INLINE vf min(vf a, vf b) { return _mm512_min_ps(a, b); }
GNAS_INLINE float hsum(vf a) { return _mm512_reduce_add_ps(a); }
// Lane-wise selects used by the activation derivatives: keep `a` where the condition holds, else 0.
GNAS_INLINE vf keep_gt(vf z, vf t, vf a) { return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(z, t, _CMP_GT_OQ), a); }
GNAS_INLINE vf keep_lt(vf z, vf t, vf a) { return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(z, t, _CMP_LT_OQ), a); }
// where z >= t take b, else a
GNAS_INLINE vf select_ge(vf z, vf t, vf a, vf b) { return _mm512_mask_mov_ps(a, _mm512_cmp_ps_mask(z, t, _CMP_GE_OQ), b); }
// Widening float -> double accumulation of a vector into acc[0..L): used for statistics.
GNAS_INLINE void add_to_double(double* acc, vf v) {
  _mm512_storeu_pd(acc, _mm512_add_pd(_mm512_loadu_pd(acc), _mm512_cvtps_pd(_mm512_castps512_ps256(v))));
  _mm512_storeu_pd(acc + 8, _mm512_add_pd(_mm512_loadu_pd(acc + 8),
                                          _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)))));
}
// 16 bytes -> 16 floats
GNAS_INLINE vf load_u8(const uint8_t* p) { return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i*)p))); }

#elif defined(GNAS_ISA_AVX2)
// ---------------------------------------------------------------- AVX2 + FMA: 8 lanes, 16 registers
constexpr int L = 8;
constexpr int kVecRegs = 16;
typedef __m256 vf;
struct tmask { __m256i m; };
GNAS_INLINE tmask tail_mask(int n) {
  return {_mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))};
}
GNAS_INLINE vf load(const float* p) { return _mm256_loadu_ps(p); }
GNAS_INLINE vf load(const float* p, tmask m) { return _mm256_maskload_ps(p, m.m); }
GNAS_INLINE void store(float* p, vf v) { _mm256_storeu_ps(p, v); }
GNAS_INLINE void store(float* p, vf v, tmask m) { _mm256_maskstore_ps(p, m.m, v); }
GNAS_INLINE void store_stream(float* p, vf v) { _mm256_stream_ps(p, v); }  // p 32-byte aligned
GNAS_INLINE vf set1(float a) { return _mm256_set1_ps(a); }
GNAS_INLINE vf broadcast(const float* p) { return _mm256_broadcast_ss(p); }
GNAS_INLINE vf zero() { return _mm256_setzero_ps(); }
GNAS_INLINE vf add(vf a, vf b) { return _mm256_add_ps(a, b); }
GNAS_INLINE vf sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
GNAS_INLINE vf mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
GNAS_INLINE vf fmadd(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
GNAS_INLINE vf fnmadd(vf a, vf b, vf c) { return _mm256_fnmadd_ps(a, b, c); }
GNAS_INLINE vf max(vf a, vf b) { return _mm256_max_ps(a, b); }
GNAS_INLINE vf min(vf a, vf b) { return _mm256_min_ps(a, b); }
GNAS_INLINE float hsum(vf a) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}
GNAS_INLINE vf keep_gt(vf z, vf t, vf a) { return _mm256_and_ps(_mm256_cmp_ps(z, t, _CMP_GT_OQ), a); }
GNAS_INLINE vf keep_lt(vf z, vf t, vf a) { return _mm256_and_ps(_mm256_cmp_ps(z, t, _CMP_LT_OQ), a); }
GNAS_INLINE vf select_ge(vf z, vf t, vf a, vf b) { return _mm256_blendv_ps(a, b, _mm256_cmp_ps(z, t, _CMP_GE_OQ)); }
GNAS_INLINE void add_to_double(double* acc, vf v) {
  _mm256_storeu_pd(acc, _mm256_add_pd(_mm256_loadu_pd(acc), _mm256_cvtps_pd(_mm256_castps256_ps128(v))));
  _mm256_storeu_pd(acc + 4, _mm256_add_pd(_mm256_loadu_pd(acc + 4), _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1))));
}
GNAS_INLINE vf load_u8(const uint8_t* p) {
  return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*)p)));
}

#else
// ---------------------------------------------------------------- generic x86-64: SSE2, 4 lanes, no FMA
constexpr int L = 4;
constexpr int kVecRegs = 16;
typedef __m128 vf;
struct tmask { int n; };
GNAS_INLINE tmask tail_mask(int n) { return {n}; }
GNAS_INLINE vf load(const float* p) { return _mm_loadu_ps(p); }
GNAS_INLINE vf load(const float* p, tmask m) {
  alignas(16) float t[4] = {0, 0, 0, 0};
  for (int i = 0; i < m.n; ++i) t[i] = p[i];
  return _mm_load_ps(t);
}
GNAS_INLINE void store(float* p, vf v) { _mm_storeu_ps(p, v); }
GNAS_INLINE void store_stream(float* p, vf v) { _mm_stream_ps(p, v); }  // p 16-byte aligned
GNAS_INLINE void store(float* p, vf v, tmask m) {
  alignas(16) float t[4];
  _mm_store_ps(t, v);
  for (int i = 0; i < m.n; ++i) p[i] = t[i];
}
GNAS_INLINE vf set1(float a) { return _mm_set1_ps(a); }
GNAS_INLINE vf broadcast(const float* p) { return _mm_set1_ps(*p); }
GNAS_INLINE vf zero() { return _mm_setzero_ps(); }
GNAS_INLINE vf add(vf a, vf b) { return _mm_add_ps(a, b); }
GNAS_INLINE vf sub(vf a, vf b) { return _mm_sub_ps(a, b); }
GNAS_INLINE vf mul(vf a, vf b) { return _mm_mul_ps(a, b); }
GNAS_INLINE vf fmadd(vf a, vf b, vf c) { return _mm_add_ps(_mm_mul_ps(a, b), c); }
GNAS_INLINE vf fnmadd(vf a, vf b, vf c) { return _mm_sub_ps(c, _mm_mul_ps(a, b)); }
GNAS_INLINE vf max(vf a, vf b) { return _mm_max_ps(a, b); }
GNAS_INLINE vf min(vf a, vf b) { return _mm_min_ps(a, b); }
GNAS_INLINE float hsum(vf a) {
  __m128 s = _mm_add_ps(a, _mm_movehl_ps(a, a));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}
GNAS_INLINE vf keep_gt(vf z, vf t, vf a) { return _mm_and_ps(_mm_cmpgt_ps(z, t), a); }
GNAS_INLINE vf keep_lt(vf z, vf t, vf a) { return _mm_and_ps(_mm_cmplt_ps(z, t), a); }
GNAS_INLINE vf select_ge(vf z, vf t, vf a, vf b) {
  const __m128 m = _mm_cmpge_ps(z, t);
  return _mm_or_ps(_mm_and_ps(m, b), _mm_andnot_ps(m, a));
}
GNAS_INLINE void add_to_double(double* acc, vf v) {
  acc[0] += double(_mm_cvtss_f32(v));
  acc[1] += double(_mm_cvtss_f32(_mm_shuffle_ps(v, v, 1)));
  acc[2] += double(_mm_cvtss_f32(_mm_shuffle_ps(v, v, 2)));
  acc[3] += double(_mm_cvtss_f32(_mm_shuffle_ps(v, v, 3)));
}
GNAS_INLINE vf load_u8(const uint8_t* p) { return _mm_setr_ps(p[0], p[1], p[2], p[3]); }
#endif

// Loads a row segment of n <= L floats (full vector when n == L).
GNAS_INLINE vf load_n(const float* p, int n) { return n == L ? load(p) : load(p, tail_mask(n)); }
GNAS_INLINE void store_n(float* p, vf v, int n) {
  if (n == L) store(p, v); else store(p, v, tail_mask(n));
}

// Software prefetch, into L1, of what a pass reading memory in address order will load
// kPrefetchAheadBytes after p. The passes that read an activation tensor once from memory while
// doing a few operations per value (the depthwise backward's copies into padded planes) ran at
// ~8 GB/s on one Zen 4 core with the hardware prefetchers alone, the latency of a demand miss
// rather than the core's ~27 GB/s (docs/performance-earlier.md, "Depthwise backward and the memory
// limit", step 4, has the measurements and how the distance was chosen).
constexpr int kPrefetchAheadBytes = 6144;
GNAS_INLINE void prefetch_ahead(const float* p) {
  _mm_prefetch(reinterpret_cast<const char*>(p) + kPrefetchAheadBytes, _MM_HINT_T0);
}

// dst[0, n) = src[0, n) with non-temporal stores for the aligned body: dst's cache lines are
// neither read for ownership nor kept in cache. For a large output written once that nothing
// reads before it has left the caches anyway (a full-batch gradient): it saves the read that an
// ordinary store of a missing line costs. Ends with a store fence, so the data is visible to
// whichever thread reads it next, unless `fence` is false (a caller streaming many pieces fences
// once after the last: a fence waits for the write-combining buffers to drain).
GNAS_INLINE void copy_streaming(float* dst, const float* src, int64_t n, bool fence = true) {
  int64_t i = 0;
  while (i < n && reinterpret_cast<uintptr_t>(dst + i) % (sizeof(float) * L) != 0) {
    dst[i] = src[i];
    ++i;
  }
  for (; i + L <= n; i += L) store_stream(dst + i, load(src + i));
  for (; i < n; ++i) dst[i] = src[i];
  if (fence) _mm_sfence();
}

// Element storage of a tensor a kernel reads or writes: float here. The bfloat16 scoring forward
// (conv_bf16_avx512bf16.cpp, depthwise_bf16_avx512bf16.cpp) instantiates the same code (gemm.h's
// tile stores, depthwise.h's strip stores, batchnorm.h's block output) with its own
// storage type, whose loads widen to float and whose stores round, so the arithmetic is the same
// in both.
struct F32Io {
  typedef float T;
  static constexpr bool kStreaming = false;
  static GNAS_INLINE vf ld(const float* p) { return load(p); }
  static GNAS_INLINE vf ld(const float* p, tmask m) { return load(p, m); }
  static GNAS_INLINE void st(float* p, vf v) { store(p, v); }
  static GNAS_INLINE void st(float* p, vf v, tmask m) { store(p, v, m); }
};
// F32Io whose full-vector stores are non-temporal (each a whole, aligned line of output that is
// not read again before it would have left the cache anyway): no read for ownership. Stores
// through it need 64-byte aligned rows and an sfence before another thread reads them.
struct F32Stream : F32Io {
  static constexpr bool kStreaming = true;
  static GNAS_INLINE void st(float* p, vf v) { store_stream(p, v); }
  static GNAS_INLINE void st(float* p, vf v, tmask m) { store(p, v, m); }
};

// ---- activations: act(z) and dy * act'(z) with the reference's conventions at the kinks:
// relu'(z) = [z > 0]; relu6'(z) = [0 < z < 6]; hswish'(z) = 0 (z <= -3), (2z + 3) / 6, 1 (z >= 3).
// Act values: 0 None, 1 ReLU, 2 ReLU6, 3 HSwish (core/backend.h).
template <int ACT>
GNAS_INLINE vf act_apply(vf z) {
  if (ACT == 1) return max(z, zero());
  if (ACT == 2) return min(max(z, zero()), set1(6.0f));
  if (ACT == 3) {
    const vf r6 = min(max(add(z, set1(3.0f)), zero()), set1(6.0f));
    return mul(mul(z, r6), set1(1.0f / 6.0f));
  }
  return z;
}
template <int ACT>
GNAS_INLINE vf act_backward(vf z, vf dy) {
  if (ACT == 1) return keep_gt(z, zero(), dy);
  if (ACT == 2) return keep_lt(z, set1(6.0f), keep_gt(z, zero(), dy));
  if (ACT == 3) {
    // (2z + 3) / 6 inside (-3, 3); 0 at or below -3; 1 at or above 3
    const vf mid = fmadd(z, set1(1.0f / 3.0f), set1(0.5f));
    const vf d = select_ge(z, set1(3.0f), keep_gt(z, set1(-3.0f), mid), set1(1.0f));
    return mul(dy, d);
  }
  return dy;
}
GNAS_INLINE float act_apply_scalar(int act, float z) {
  switch (act) {
    case 1: return z > 0 ? z : 0.0f;
    case 2: return z <= 0 ? 0.0f : (z >= 6 ? 6.0f : z);
    case 3: { const float r = z + 3 <= 0 ? 0.0f : (z + 3 >= 6 ? 6.0f : z + 3); return z * r * (1.0f / 6.0f); }
    default: return z;
  }
}

}  // namespace GNAS_ISA
}  // namespace cpu
}  // namespace gnas
