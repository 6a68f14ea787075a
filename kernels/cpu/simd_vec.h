// fp32 vector traits for the SIMD kernel files, one struct per ISA (as ggml's GGML_F32_VEC
// macros, but as types): the register, its width in floats, and the handful of operations
// the shared algorithms of simd_float_kernels.h are written with. A kernel file picks its
// ISA's struct (kernels_avx2.cc: Avx2F32; kernels_avx512.cc: Avx512F32) and instantiates the
// algorithms with it.
//
// Linkage: this header is included by translation units compiled with different -m flags
// (CMakeLists.txt), so everything in it has internal linkage (the unnamed namespace below).
// An inline function or a template instantiation with external linkage would be emitted as a
// weak symbol by both files, and the linker would keep one of them — possibly the AVX-512
// build of a function the AVX2 path calls on a CPU without AVX-512.
//
// Contracts shared by both structs:
//   load_first(p, n, fill)  lanes [0, n) from p (0 < n < kWidth; nothing past p + n is read),
//                           the other lanes `fill`;
//   store_first(p, n, v)    writes lanes [0, n) of v to p, nothing past p + n;
//   keep_first(v, n)        lanes [0, n) of v, the others +0;
//   fmadd(a, b, c) = a * b + c and fnmadd(a, b, c) = c - a * b, each rounded once;
//   round(x)                to the nearest integer, ties to even;
//   scale_pow2(p, n)        p * 2^n for integral n in [-126, 128], rounded once;
//   reduce_add / reduce_max horizontal sum / max of the lanes, in a fixed order per ISA.
#pragma once

#if !defined(__AVX2__) || !defined(__FMA__) || !defined(__F16C__)
#error "kernels/cpu/simd_vec.h needs -mavx2 -mfma -mf16c (the *_avx2.cc / *_avx512.cc files)"
#endif

#include <immintrin.h>

#include <cstdint>

namespace lmd::cpu::simd {
namespace {

struct Avx2F32 {
  using Reg = __m256;
  static constexpr int kWidth = 8;

  static Reg zero() { return _mm256_setzero_ps(); }
  static Reg set1(float v) { return _mm256_set1_ps(v); }
  static Reg load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, Reg v) { _mm256_storeu_ps(p, v); }
  static Reg load_first(const float* p, int64_t n, float fill) {
    const __m256i m = first_lanes(n);
    return _mm256_blendv_ps(set1(fill), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
  }
  static void store_first(float* p, int64_t n, Reg v) { _mm256_maskstore_ps(p, first_lanes(n), v); }
  static Reg keep_first(Reg v, int64_t n) { return _mm256_and_ps(v, _mm256_castsi256_ps(first_lanes(n))); }

  static Reg add(Reg a, Reg b) { return _mm256_add_ps(a, b); }
  static Reg sub(Reg a, Reg b) { return _mm256_sub_ps(a, b); }
  static Reg mul(Reg a, Reg b) { return _mm256_mul_ps(a, b); }
  static Reg div(Reg a, Reg b) { return _mm256_div_ps(a, b); }
  static Reg min(Reg a, Reg b) { return _mm256_min_ps(a, b); }
  static Reg max(Reg a, Reg b) { return _mm256_max_ps(a, b); }
  static Reg fmadd(Reg a, Reg b, Reg c) { return _mm256_fmadd_ps(a, b, c); }
  static Reg fnmadd(Reg a, Reg b, Reg c) { return _mm256_fnmadd_ps(a, b, c); }
  static Reg round(Reg x) { return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  // 2^n in two halves, so that n = 128 and n = -126 each stay a normal float.
  static Reg scale_pow2(Reg p, Reg n) {
    const __m256i ni = _mm256_cvtps_epi32(n);
    const __m256i h1 = _mm256_srai_epi32(ni, 1), h2 = _mm256_sub_epi32(ni, h1);
    const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h1, _mm256_set1_epi32(127)), 23));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h2, _mm256_set1_epi32(127)), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
  }
  static float reduce_add(Reg v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static float reduce_max(Reg v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
  }

 private:
  // All-ones in lanes [0, n).
  static __m256i first_lanes(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
};

#if defined(__AVX512F__)
struct Avx512F32 {
  using Reg = __m512;
  static constexpr int kWidth = 16;

  static Reg zero() { return _mm512_setzero_ps(); }
  static Reg set1(float v) { return _mm512_set1_ps(v); }
  static Reg load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, Reg v) { _mm512_storeu_ps(p, v); }
  static Reg load_first(const float* p, int64_t n, float fill) {
    return _mm512_mask_loadu_ps(set1(fill), first_lanes(n), p);
  }
  static void store_first(float* p, int64_t n, Reg v) { _mm512_mask_storeu_ps(p, first_lanes(n), v); }
  static Reg keep_first(Reg v, int64_t n) { return _mm512_maskz_mov_ps(first_lanes(n), v); }

  static Reg add(Reg a, Reg b) { return _mm512_add_ps(a, b); }
  static Reg sub(Reg a, Reg b) { return _mm512_sub_ps(a, b); }
  static Reg mul(Reg a, Reg b) { return _mm512_mul_ps(a, b); }
  static Reg div(Reg a, Reg b) { return _mm512_div_ps(a, b); }
  static Reg min(Reg a, Reg b) { return _mm512_min_ps(a, b); }
  static Reg max(Reg a, Reg b) { return _mm512_max_ps(a, b); }
  static Reg fmadd(Reg a, Reg b, Reg c) { return _mm512_fmadd_ps(a, b, c); }
  static Reg fnmadd(Reg a, Reg b, Reg c) { return _mm512_fnmadd_ps(a, b, c); }
  static Reg round(Reg x) { return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static Reg scale_pow2(Reg p, Reg n) { return _mm512_scalef_ps(p, n); }  // vscalefps
  static float reduce_add(Reg v) { return _mm512_reduce_add_ps(v); }
  static float reduce_max(Reg v) { return _mm512_reduce_max_ps(v); }

 private:
  static __mmask16 first_lanes(int64_t n) { return static_cast<__mmask16>((1u << n) - 1); }
};
#endif

}  // namespace
}  // namespace lmd::cpu::simd
