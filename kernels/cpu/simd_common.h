// Shared helpers for the SIMD kernel files (included only by *_avx2.cc / *_avx512.cc,
// which are compiled with the matching -m flags).
#pragma once

#include <immintrin.h>

#include <cmath>
#include <cstdint>

namespace lmd::cpu::simd {

inline float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}


// Scalar tail of silu*mul and the non-vectorised transcendental: same formula as reference.
inline float silu_mul_one(float g, float u) { return g / (1.0f + std::exp(-g)) * u; }

}  // namespace lmd::cpu::simd
