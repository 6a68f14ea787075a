// The llama.cpp-numerics quantised dots with AVX2 intrinsics. Same operations as the portable
// copy in llamacpp_dot_impl.h, hence the same bits (tests/unit/backend/llamacpp_numerics_test.cc
// compares them): the 8 fp32 lanes are a __m256, lane j's exact integer sum of elements
// 4j..4j+3 comes from maddubs (u8 x s8 pair sums in int16: at most 2*15*127 for Q4_1 and
// 2*128*127 for Q8_0, so no saturation) and madd with ones, and every float step is the same
// fma / add as the scalar code (fp16 scales converted exactly by F16C).
#include <immintrin.h>

#include "kernels/cpu/llamacpp_dot_impl.h"

namespace lmd::cpu::llamacpp {
namespace {

inline __m256i lane_sums(__m256i u8, __m256i s8) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u8, s8), _mm256_set1_epi16(1));
}

inline float hsum8_avx(__m256 acc) {
  float a[8];
  _mm256_storeu_ps(a, acc);
  return dot_impl::hsum8(a);
}

}  // namespace

float dot_q4_1_q8_1_avx2(const PackedInt4& w, int64_t r, const int8_t* q, const uint16_t* d, const uint16_t* s) {
  const int64_t nblk_w = w.cols_padded / kBlock, nb = w.cols / kBlock;
  dot_impl::check_rows_layout(w.layout);
  const uint8_t* qs = w.qs + r * (w.cols_padded / 2);
  const uint16_t* wd = w.d + r * nblk_w;
  const uint16_t* wm = w.m + r * nblk_w;
  const __m256i low4 = _mm256_set1_epi8(15);
  __m256 acc = _mm256_setzero_ps();
  float summs = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    const float d0d1 = _cvtsh_ss(wd[b]) * _cvtsh_ss(d[b]);
    summs = std::fma(_cvtsh_ss(wm[b]), _cvtsh_ss(s[b]), summs);
    const __m256i packed = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + (b / 2) * 32));
    const __m256i wq = _mm256_and_si256(b & 1 ? _mm256_srli_epi16(packed, 4) : packed, low4);
    const __m256i xq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + b * kBlock));
    const __m256 lanes = _mm256_cvtepi32_ps(lane_sums(wq, xq));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d0d1), lanes, acc);
  }
  return hsum8_avx(acc) + summs;
}

float dot_q8_0_q8_0_avx2(const PackedInt8& w, int64_t r, const int8_t* q, const uint16_t* d) {
  const int64_t nblk_w = w.cols_padded / kBlock, nb = w.cols / kBlock;
  dot_impl::check_rows_layout(w.layout);
  const int8_t* qs = w.qs + r * w.cols_padded;
  const uint16_t* wd = w.d + r * nblk_w;
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const float sc = _cvtsh_ss(wd[b]) * _cvtsh_ss(d[b]);
    const __m256i wq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + b * kBlock));
    const __m256i xq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + b * kBlock));
    // w·x = |w| · (x with w's sign): an unsigned x signed pair product.
    const __m256 lanes = _mm256_cvtepi32_ps(lane_sums(_mm256_sign_epi8(wq, wq), _mm256_sign_epi8(xq, wq)));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(sc), lanes, acc);
  }
  return hsum8_avx(acc);
}

}  // namespace lmd::cpu::llamacpp
