// bfloat16 vocabulary of the AVX512-BF16 scoring kernels (conv_bf16_avx512bf16.cpp,
// depthwise_bf16_avx512bf16.cpp): included only by files built with -mavx512bf16, after
// kernel_table.h has defined the AVX-512 namespace. bfloat16 values are the upper 16 bits of a
// float; rounding is to nearest even (vcvtneps2bf16, and the same rule in scalar code), which is
// what the Backend defaults emulate.
#pragma once

namespace gnas {
namespace cpu {
namespace avx512 {

typedef uint16_t bf16;

static inline bf16 to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7f800000u) == 0x7f800000u) return bf16(u >> 16);  // inf / NaN: truncate
  return bf16((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

static GNAS_INLINE vf widen_bf16(__m256i h) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

// bfloat16 storage (simd.h's F32Io for bfloat16 tensors): loads widen exactly, stores round.
struct Bf16Store {
  typedef bf16 T;
  static GNAS_INLINE vf ld(const bf16* p) { return widen_bf16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static GNAS_INLINE vf ld(const bf16* p, tmask m) { return widen_bf16(_mm256_maskz_loadu_epi16(m.k, p)); }
  static GNAS_INLINE void st(bf16* p, vf v) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), (__m256i)_mm512_cvtneps_pbh(v));
  }
  static GNAS_INLINE void st(bf16* p, vf v, tmask m) { _mm256_mask_storeu_epi16(p, m.k, (__m256i)_mm512_cvtneps_pbh(v)); }
};

}  // namespace avx512
}  // namespace cpu
}  // namespace gnas
