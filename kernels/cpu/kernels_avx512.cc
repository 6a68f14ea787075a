// AVX-512 (F/BW/VL/DQ) + VNNI variants of the CPU kernels (see cpu_kernels.h for layouts).
// The int4 and int8 matrix kernels use vpdpbusd (u8 x s8 -> s32) on 64 values at a time. The
// fp32 kernels shared with AVX2 (dot, rms_norm, silu_mul, softmax) are simd_float_kernels.h
// instantiated with simd::Avx512F32.
// gcc 12's AVX-512 headers build reductions and casts from _mm512_undefined_*(), which
// -Wall reports as uninitialised use inside the header (a known gcc false positive).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/simd_float_kernels.h"
#include "kernels/cpu/simd_vec.h"

namespace lmd::cpu {
namespace {
using V = simd::Avx512F32;

inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

void quantize_row_q8(const float* x, int64_t cols, int64_t cols_padded, int8_t* q, float* d, float* s) {
  for (int64_t b = 0; b < cols_padded / kBlock; ++b) {
    const int64_t c0 = b * kBlock;
    if (c0 + kBlock > cols) {
      reference_kernels().quantize_row_q8(x + c0, cols > c0 ? cols - c0 : 0, kBlock, q + c0, d + b, s + b);
      continue;
    }
    const __m512 v0 = _mm512_loadu_ps(x + c0), v1 = _mm512_loadu_ps(x + c0 + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    const float db = amax / 127.0f;
    const float id = db > 0.0f ? 1.0f / db : 0.0f;
    const __m512 vid = _mm512_set1_ps(id);
    const __m512i q0 = _mm512_cvtps_epi32(
        _mm512_roundscale_ps(_mm512_mul_ps(v0, vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    const __m512i q1 = _mm512_cvtps_epi32(
        _mm512_roundscale_ps(_mm512_mul_ps(v1, vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + c0), _mm512_cvtsepi32_epi8(q0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + c0 + 16), _mm512_cvtsepi32_epi8(q1));
    d[b] = db;
    s[b] = db * static_cast<float>(_mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1)));
  }
}

// Row kernels for T tokens. Two super-blocks (128 columns) per iteration: one 64-byte
// load gives, after mask / shift and two 128-bit lane shuffles, the u8 codes of columns
// [128k, 128k+64) and [128k+64, 128k+128) in order, so activations are read in their
// natural layout. The codes are unpacked once per row and reused for all T tokens; per
// token and 128 columns the work is 2 vpdpbusd, 2 int->float, 2 FMA and the block scales
// (dw * dx for 4 blocks, spread over 8 lanes each by one permute per 64 columns).
// The per-block additive term (int4: m_w * s_x; int8: -128 d_w * s_x, because the signed
// codes are fed to vpdpbusd as w + 128) is a separate short dot over the blocks of the row.
struct Q4Policy {
  using Packed = PackedInt4;
  static const uint8_t* row_codes(const Packed& w, int64_t r) { return w.qs + r * (w.cols_padded / 2); }
  // 128 columns from 64 bytes
  static void unpack2(const uint8_t* p, __m512i& a, __m512i& b) {
    const __m512i low = _mm512_set1_epi8(0x0f);
    const __m512i v = _mm512_loadu_si512(p);
    const __m512i lo = _mm512_and_si512(v, low);
    const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);
    a = _mm512_shuffle_i64x2(lo, hi, 0x44);
    b = _mm512_shuffle_i64x2(lo, hi, 0xEE);
  }
  static constexpr int64_t kBytesPer2Sb = 64;
  // 64 columns from 32 bytes (the odd last super-block)
  static __m512i unpack1(const uint8_t* p) {
    const __m256i low = _mm256_set1_epi8(0x0f);
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(v, low)),
                              _mm256_and_si256(_mm256_srli_epi16(v, 4), low), 1);
  }
  static constexpr int64_t kBytesPerSb = 32;
  // per-block additive coefficients of 16 blocks starting at b (masked)
  static __m512 add_coef(const Packed& w, int64_t r, int64_t b, __mmask16 m) {
    const int64_t nblk = w.cols_padded / kBlock;
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, w.m + r * nblk + b));
  }
};

struct Q8Policy {
  using Packed = PackedInt8;
  static const uint8_t* row_codes(const Packed& w, int64_t r) {
    return reinterpret_cast<const uint8_t*>(w.qs) + r * w.cols_padded;
  }
  static void unpack2(const uint8_t* p, __m512i& a, __m512i& b) {
    const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
    a = _mm512_xor_si512(_mm512_loadu_si512(p), bias);
    b = _mm512_xor_si512(_mm512_loadu_si512(p + 64), bias);
  }
  static constexpr int64_t kBytesPer2Sb = 128;
  static __m512i unpack1(const uint8_t* p) {
    return _mm512_xor_si512(_mm512_loadu_si512(p), _mm512_set1_epi8(static_cast<char>(0x80)));
  }
  static constexpr int64_t kBytesPerSb = 64;
  static __m512 add_coef(const Packed& w, int64_t r, int64_t b, __mmask16 m) {
    const int64_t nblk = w.cols_padded / kBlock;
    return _mm512_mul_ps(_mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, w.d + r * nblk + b)), _mm512_set1_ps(-128.0f));
  }
};

template <typename P, int T>
void rows_kernel(const typename P::Packed& w, int64_t r0, int64_t r1, const QuantActs& x, int64_t t0, float* y,
                 int64_t ldy) {
  const int64_t nsb = w.cols_padded / kSuperBlock, nblk = 2 * nsb, npair = nsb / 2;
  const int64_t cp = x.cols_padded;
  const __m512i idx_a = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
  const __m512i idx_b = _mm512_setr_epi32(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  const int8_t* xq = x.q + t0 * cp;
  const float* xd = x.d + t0 * nblk;
  const float* xs = x.s + t0 * nblk;
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* codes = P::row_codes(w, r);
    const uint16_t* dr = w.d + r * nblk;
    __m512 acc[T];
    for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t k = 0; k < npair; ++k) {
      __m512i wa, wb;
      P::unpack2(codes + k * P::kBytesPer2Sb, wa, wb);
      const __m128 dw = _mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(dr + 4 * k)));
      for (int t = 0; t < T; ++t) {
        const int8_t* xr = xq + t * cp + k * 128;
        const __m512i pa = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wa, _mm512_loadu_si512(xr));
        const __m512i pb = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wb, _mm512_loadu_si512(xr + 64));
        const __m512 sc = _mm512_castps128_ps512(_mm_mul_ps(dw, _mm_loadu_ps(xd + t * nblk + 4 * k)));
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(pa), _mm512_permutexvar_ps(idx_a, sc), acc[t]);
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(pb), _mm512_permutexvar_ps(idx_b, sc), acc[t]);
      }
    }
    if (nsb & 1) {  // the last, unpaired super-block
      const int64_t sb = nsb - 1;
      const __m512i wq = P::unpack1(codes + npair * P::kBytesPer2Sb);
      const __m128 dw = _mm_cvtph_ps(_mm_cvtsi32_si128(*reinterpret_cast<const int32_t*>(dr + 2 * sb)));
      for (int t = 0; t < T; ++t) {
        const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wq,
                                              _mm512_loadu_si512(xq + t * cp + sb * kSuperBlock));
        const __m128 xdv = _mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(xd + t * nblk + 2 * sb)));
        const __m512 sc = _mm512_permutexvar_ps(idx_a, _mm512_castps128_ps512(_mm_mul_ps(dw, xdv)));
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), sc, acc[t]);
      }
    }
    for (int64_t b = 0; b < nblk; b += 16) {  // Σ_b coef_b * s_x(b)
      const __mmask16 m = nblk - b >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << (nblk - b)) - 1);
      const __m512 c = P::add_coef(w, r, b, m);
      for (int t = 0; t < T; ++t) acc[t] = _mm512_fmadd_ps(c, _mm512_maskz_loadu_ps(m, xs + t * nblk + b), acc[t]);
    }
    for (int t = 0; t < T; ++t) y[(t0 + t) * ldy + r] = _mm512_reduce_add_ps(acc[t]);
  }
}

constexpr int64_t kRowTile = 16;
constexpr int kTokTile = 8;

// Row tiles of kRowTile rows (their codes stay in L1) x token tiles of up to kTokTile.
template <typename P>
void gemm_tiles(const typename P::Packed& w, int64_t r0, int64_t r1, const QuantActs& x, float* y, int64_t ldy) {
  for (int64_t rt = r0; rt < r1; rt += kRowTile) {
    const int64_t re = rt + kRowTile < r1 ? rt + kRowTile : r1;
    int64_t t = 0;
    for (; t + kTokTile <= x.n; t += kTokTile) rows_kernel<P, kTokTile>(w, rt, re, x, t, y, ldy);
    switch (x.n - t) {
      case 7: rows_kernel<P, 7>(w, rt, re, x, t, y, ldy); break;
      case 6: rows_kernel<P, 6>(w, rt, re, x, t, y, ldy); break;
      case 5: rows_kernel<P, 5>(w, rt, re, x, t, y, ldy); break;
      case 4: rows_kernel<P, 4>(w, rt, re, x, t, y, ldy); break;
      case 3: rows_kernel<P, 3>(w, rt, re, x, t, y, ldy); break;
      case 2: rows_kernel<P, 2>(w, rt, re, x, t, y, ldy); break;
      case 1: rows_kernel<P, 1>(w, rt, re, x, t, y, ldy); break;
      default: break;
    }
  }
}

// ---- PackLayout::kRows16: 16 rows x T tokens per call, no horizontal sums ----
// Per 32-column block and token: 8 vpdpbusd (a zmm of 16 rows x 4 weight bytes against the
// token's 4 activation bytes broadcast) accumulate the exact int32 block dots of 16 rows,
// then one cvt, one FMA with d_w[16] * d_x and one FMA with the additive coefficient
// (int4: m_w; int8: -128 d_w, since signed codes enter vpdpbusd as w + 128) times s_x.
// The unpacked weight vectors are shared by the T tokens. Registers: 2T accumulators + ~6.
template <int T>
inline void dp_bcast(__m512i (&ia)[T], __m512i w, const int8_t* xb, int64_t cp) {
  for (int t = 0; t < T; ++t) {
    int32_t v;
    __builtin_memcpy(&v, xb + t * cp, 4);
    ia[t] = _mm512_dpbusd_epi32(ia[t], w, _mm512_set1_epi32(v));
  }
}

template <bool kInt4, int T>
void group16_kernel(const uint8_t* gq, const uint16_t* gd, const uint16_t* gm, int64_t nblk, const QuantActs& x,
                    int64_t t0, float* y, int64_t ldy, __mmask16 mask) {
  const int64_t cp = x.cols_padded;
  const int8_t* xq = x.q + t0 * cp;
  const float* xd = x.d + t0 * nblk;
  const float* xs = x.s + t0 * nblk;
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nblk; ++b) {
    __m512i ia[T];
    for (int t = 0; t < T; ++t) ia[t] = _mm512_setzero_si512();
    const int8_t* xb = xq + b * kBlock;
    __m512 dw, coef;
    if constexpr (kInt4) {
      const uint8_t* p = gq + b * 256;
      const __m512i low = _mm512_set1_epi8(0x0f);
      for (int k = 0; k < 4; ++k) {
        const __m512i v = _mm512_loadu_si512(p + 64 * k);
        dp_bcast<T>(ia, _mm512_and_si512(v, low), xb + 4 * k, cp);
        dp_bcast<T>(ia, _mm512_and_si512(_mm512_srli_epi16(v, 4), low), xb + 16 + 4 * k, cp);
      }
      dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(gd + b * kRowGroup)));
      coef = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(gm + b * kRowGroup)));
    } else {
      const uint8_t* p = gq + b * 512;
      const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
      for (int k = 0; k < 8; ++k) dp_bcast<T>(ia, _mm512_xor_si512(_mm512_loadu_si512(p + 64 * k), bias), xb + 4 * k, cp);
      dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(gd + b * kRowGroup)));
      coef = _mm512_mul_ps(dw, _mm512_set1_ps(-128.0f));
    }
    for (int t = 0; t < T; ++t) {
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ia[t]), _mm512_mul_ps(dw, _mm512_set1_ps(xd[t * nblk + b])), acc[t]);
      acc[t] = _mm512_fmadd_ps(coef, _mm512_set1_ps(xs[t * nblk + b]), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(y + t * ldy, mask, acc[t]);
}

constexpr int kTokTile16 = 8;

// Rows [r0, r1) of a kRows16 matrix: whole 16-row groups, the rows outside masked on store.
template <bool kInt4>
void gemm_rows16(const uint8_t* qs, const uint16_t* d, const uint16_t* m, int64_t cols_padded, int64_t r0, int64_t r1,
                 const QuantActs& x, float* y, int64_t ldy) {
  const int64_t nblk = cols_padded / kBlock;
  const int64_t gbytes = nblk * (kInt4 ? 256 : 512), gscales = nblk * kRowGroup;
  for (int64_t g = r0 / kRowGroup; g * kRowGroup < r1; ++g) {
    const int64_t row0 = g * kRowGroup;
    const int64_t lo = r0 > row0 ? r0 - row0 : 0, hi = r1 - row0 < kRowGroup ? r1 - row0 : kRowGroup;
    const __mmask16 mask = static_cast<__mmask16>(((1u << hi) - 1) & ~((1u << lo) - 1));
    const uint8_t* gq = qs + g * gbytes;
    const uint16_t* gd = d + g * gscales;
    const uint16_t* gm = kInt4 ? m + g * gscales : nullptr;
    float* yg = y + row0;
    int64_t t = 0;
    for (; t + kTokTile16 <= x.n; t += kTokTile16)
      group16_kernel<kInt4, kTokTile16>(gq, gd, gm, nblk, x, t, yg + t * ldy, ldy, mask);
    float* yt = yg + t * ldy;
    switch (x.n - t) {
      case 7: group16_kernel<kInt4, 7>(gq, gd, gm, nblk, x, t, yt, ldy, mask); break;
      case 6: group16_kernel<kInt4, 6>(gq, gd, gm, nblk, x, t, yt, ldy, mask); break;
      case 5: group16_kernel<kInt4, 5>(gq, gd, gm, nblk, x, t, yt, ldy, mask); break;
      case 4: group16_kernel<kInt4, 4>(gq, gd, gm, nblk, x, t, yt, ldy, mask); break;
      case 3: group16_kernel<kInt4, 3>(gq, gd, gm, nblk, x, t, yt, ldy, mask); break;
      case 2: group16_kernel<kInt4, 2>(gq, gd, gm, nblk, x, t, yt, ldy, mask); break;
      case 1: group16_kernel<kInt4, 1>(gq, gd, gm, nblk, x, t, yt, ldy, mask); break;
      default: break;
    }
  }
}

void gemm_q4_q8(const PackedInt4& w, int64_t r0, int64_t r1, const QuantActs& x, float* y, int64_t ldy) {
  if (w.layout == PackLayout::kRows16) {
    gemm_rows16<true>(w.qs, w.d, w.m, w.cols_padded, r0, r1, x, y, ldy);
    return;
  }
  gemm_tiles<Q4Policy>(w, r0, r1, x, y, ldy);
}

void gemm_q8_q8(const PackedInt8& w, int64_t r0, int64_t r1, const QuantActs& x, float* y, int64_t ldy) {
  if (w.layout == PackLayout::kRows16) {
    gemm_rows16<false>(reinterpret_cast<const uint8_t*>(w.qs), w.d, nullptr, w.cols_padded, r0, r1, x, y, ldy);
    return;
  }
  gemm_tiles<Q8Policy>(w, r0, r1, x, y, ldy);
}

void fp16_to_f32_row(const uint16_t* h, int64_t n, float* out) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(out + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(h + i))));
  if (i < n) avx2_kernels().fp16_to_f32(h + i, n - i, out + i);
}

void attn_scores(const float* q, const float* k, int64_t rows, int64_t dim, float scale, float* out) {
  if (dim % 16 != 0 || dim > 256) {
    simd::attn_scores<V>(q, k, rows, dim, scale, out);
    return;
  }
  __m512 qv[16];
  const int64_t nv = dim / 16;
  for (int64_t j = 0; j < nv; ++j) qv[j] = _mm512_loadu_ps(q + 16 * j);
  for (int64_t i = 0; i < rows; ++i) {
    const float* kr = k + i * dim;
    __m512 acc = _mm512_mul_ps(qv[0], _mm512_loadu_ps(kr));
    for (int64_t j = 1; j < nv; ++j) acc = _mm512_fmadd_ps(qv[j], _mm512_loadu_ps(kr + 16 * j), acc);
    out[i] = scale * _mm512_reduce_add_ps(acc);
  }
}

void attn_accum(const float* p, const float* v, int64_t rows, int64_t dim, float* out) {
  if (dim % 16 != 0) {
    avx2_kernels().attn_accum(p, v, rows, dim, out);
    return;
  }
  for (int64_t j = 0; j < dim; j += 16) {
    __m512 acc = _mm512_loadu_ps(out + j);
    for (int64_t i = 0; i < rows; ++i) acc = _mm512_fmadd_ps(_mm512_set1_ps(p[i]), _mm512_loadu_ps(v + i * dim + j), acc);
    _mm512_storeu_ps(out + j, acc);
  }
}

// fp16 K/V converted in registers (vcvtph2ps) instead of through an fp32 tile buffer.
// Scores: each K row is converted once into NV zmm and dotted with the nq queries.
template <int NV>
void scores_f16_nv(const float* q, int64_t nq, const uint16_t* k, int64_t rows, float scale, float* out, int64_t ldo) {
  constexpr int64_t dim = 16 * NV;
  for (int64_t r = 0; r < rows; ++r) {
    __m512 kv[NV];
    for (int j = 0; j < NV; ++j)
      kv[j] = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(k + r * dim + 16 * j)));
    for (int64_t i = 0; i < nq; ++i) {
      const float* qi = q + i * dim;
      __m512 acc = _mm512_mul_ps(_mm512_loadu_ps(qi), kv[0]);
      for (int j = 1; j < NV; ++j) acc = _mm512_fmadd_ps(_mm512_loadu_ps(qi + 16 * j), kv[j], acc);
      out[i * ldo + r] = scale * _mm512_reduce_add_ps(acc);
    }
  }
}

void attn_scores_f16(const float* q, int64_t nq, const uint16_t* k, int64_t rows, int64_t dim, float scale, float* out,
                     int64_t ldo) {
  switch (dim) {
    case 64: scores_f16_nv<4>(q, nq, k, rows, scale, out, ldo); return;
    case 128: scores_f16_nv<8>(q, nq, k, rows, scale, out, ldo); return;
    case 256: scores_f16_nv<16>(q, nq, k, rows, scale, out, ldo); return;
    default: avx2_kernels().attn_scores_f16(q, nq, k, rows, dim, scale, out, ldo); return;
  }
}

// Accumulate: per 16 output columns, each V row chunk is converted once and FMAed into the
// NQ queries' accumulators (NQ <= 8 registers).
template <int NQ>
void accum_f16_nq(const float* p, int64_t ldp, const uint16_t* v, int64_t rows, int64_t dim, float* out) {
  for (int64_t j = 0; j < dim; j += 16) {
    __m512 acc[NQ];
    for (int i = 0; i < NQ; ++i) acc[i] = _mm512_loadu_ps(out + i * dim + j);
    for (int64_t r = 0; r < rows; ++r) {
      const __m512 vv = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(v + r * dim + j)));
      for (int i = 0; i < NQ; ++i) acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(p[i * ldp + r]), vv, acc[i]);
    }
    for (int i = 0; i < NQ; ++i) _mm512_storeu_ps(out + i * dim + j, acc[i]);
  }
}

void attn_accum_f16(const float* p, int64_t ldp, int64_t np, const uint16_t* v, int64_t rows, int64_t dim, float* out) {
  if (dim % 16 != 0) {
    avx2_kernels().attn_accum_f16(p, ldp, np, v, rows, dim, out);
    return;
  }
  for (int64_t i0 = 0; i0 < np; i0 += 8) {
    const float* pi = p + i0 * ldp;
    float* oi = out + i0 * dim;
    switch (np - i0 < 8 ? np - i0 : 8) {
      case 8: accum_f16_nq<8>(pi, ldp, v, rows, dim, oi); break;
      case 7: accum_f16_nq<7>(pi, ldp, v, rows, dim, oi); break;
      case 6: accum_f16_nq<6>(pi, ldp, v, rows, dim, oi); break;
      case 5: accum_f16_nq<5>(pi, ldp, v, rows, dim, oi); break;
      case 4: accum_f16_nq<4>(pi, ldp, v, rows, dim, oi); break;
      case 3: accum_f16_nq<3>(pi, ldp, v, rows, dim, oi); break;
      case 2: accum_f16_nq<2>(pi, ldp, v, rows, dim, oi); break;
      default: accum_f16_nq<1>(pi, ldp, v, rows, dim, oi); break;
    }
  }
}

}  // namespace

const Kernels& avx512_kernels() {
  static const Kernels k = [] {
    Kernels t = avx2_kernels();
    t.isa = CpuIsa::kAvx512;
    t.quantize_row_q8 = quantize_row_q8;
    t.gemm_q4_q8 = gemm_q4_q8;
    t.gemm_q8_q8 = gemm_q8_q8;
    t.fp16_to_f32 = fp16_to_f32_row;
    t.dot_f32 = simd::dot_f32<V>;
    t.attn_scores = attn_scores;
    t.attn_accum = attn_accum;
    t.attn_scores_f16 = attn_scores_f16;
    t.attn_accum_f16 = attn_accum_f16;
    t.rms_norm = simd::rms_norm<V>;
    t.silu_mul = simd::silu_mul<V>;
    t.softmax = simd::softmax<V>;
    return t;
  }();
  return k;
}

}  // namespace lmd::cpu
