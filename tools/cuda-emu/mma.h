// Mock of nvcuda::wmma: every lane computes the whole warp-level operation (same results).
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include "cuda_bf16.h"
namespace nvcuda { namespace wmma {
struct row_major {}; struct col_major {}; struct matrix_a {}; struct matrix_b {}; struct accumulator {};
namespace precision { struct tf32 {}; }
enum layout_t { mem_row_major, mem_col_major };
inline float __float_to_tf32(float f) {
  uint32_t u; memcpy(&u, &f, 4);
  if ((u & 0x7f800000u) != 0x7f800000u) { u += 0x1000u; u &= 0xffffe000u; }
  memcpy(&f, &u, 4); return f;
}
template <class Use, int M, int N, int K, class T, class L = void>
struct fragment {
  static constexpr int R = std::is_same<Use, matrix_b>::value ? K : M;
  static constexpr int C = std::is_same<Use, matrix_a>::value ? K : N;
  static constexpr int num_elements = R * C;
  float x[R * C];
};
inline float tof(float v) { return v; }
inline float tof(__nv_bfloat16 v) { return __bfloat162float(v); }
inline void check_ptr(const void* p, unsigned ldm, int esz) {
  if ((reinterpret_cast<uintptr_t>(p) & 31) != 0) { fprintf(stderr, "WMMA: pointer not 32-byte aligned\n"); abort(); }
  if ((ldm * esz) % 16 != 0) { fprintf(stderr, "WMMA: bad ldm\n"); abort(); }
}
template <class Use, int M, int N, int K, class T, class L, class P>
void load_matrix_sync(fragment<Use, M, N, K, T, L>& f, const P* p, unsigned ldm) {
  check_ptr(p, ldm, sizeof(P));
  using F = fragment<Use, M, N, K, T, L>;
  static_assert(std::is_same<T, precision::tf32>::value ? std::is_same<P, float>::value : std::is_same<P, T>::value, "type");
  for (int r = 0; r < F::R; ++r)
    for (int c = 0; c < F::C; ++c)
      f.x[r * F::C + c] = tof(std::is_same<L, row_major>::value ? p[r * ldm + c] : p[c * ldm + r]);
}
template <int M, int N, int K, class TA, class LA, class TB, class LB>
void mma_sync(fragment<accumulator, M, N, K, float>& d, const fragment<matrix_a, M, N, K, TA, LA>& a,
              const fragment<matrix_b, M, N, K, TB, LB>& b, const fragment<accumulator, M, N, K, float>& c) {
  float t[M * N];
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      float s = c.x[i * N + j];
      for (int k = 0; k < K; ++k) s = fmaf(a.x[i * K + k], b.x[k * N + j], s);
      t[i * N + j] = s;
    }
  memcpy(d.x, t, sizeof t);
}
template <int M, int N, int K>
void store_matrix_sync(float* p, const fragment<accumulator, M, N, K, float>& f, unsigned ldm, layout_t l) {
  check_ptr(p, ldm, 4);
  for (int r = 0; r < M; ++r)
    for (int c = 0; c < N; ++c) (l == mem_row_major ? p[r * ldm + c] : p[c * ldm + r]) = f.x[r * N + c];
}
template <class Use, int M, int N, int K, class T, class L>
void fill_fragment(fragment<Use, M, N, K, T, L>& f, float v) { for (auto& e : f.x) e = v; }
}}  // namespace nvcuda::wmma
