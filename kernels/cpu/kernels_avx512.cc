// AVX-512 (F/BW/VL/DQ) + VNNI variants of the CPU kernels (see cpu_kernels.h for layouts).
// The int4 and int8 matrix kernels use vpdpbusd (u8 x s8 -> s32) on 64 values at a time.
// gcc 12's AVX-512 headers build reductions and casts from _mm512_undefined_*(), which
// -Wall reports as uninitialised use inside the header (a known gcc false positive).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <cmath>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/simd_common.h"

namespace lmd::cpu {
namespace {

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

// Row kernel for T tokens: the 64 int4 values of a super-block are unpacked once into a
// zmm of u8 (lanes 0-7 = block 2s, 8-15 = block 2s+1) and reused for every token.
template <int T>
void q4_rows(const PackedInt4& w, int64_t r0, int64_t r1, const QuantActs& x, int64_t t0, float* y, int64_t ldy) {
  const int64_t nsb = w.cols_padded / kSuperBlock, nblk = 2 * nsb;
  const __m256i low = _mm256_set1_epi8(0x0f);
  const __m512i pair_idx = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* qs = w.qs + r * (w.cols_padded / 2);
    const uint16_t* dr = w.d + r * nblk;
    const uint16_t* mr = w.m + r * nblk;
    __m512 acc[T];
    __m128 macc[T];
    for (int t = 0; t < T; ++t) {
      acc[t] = _mm512_setzero_ps();
      macc[t] = _mm_setzero_ps();
    }
    for (int64_t sb = 0; sb < nsb; ++sb) {
      const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + sb * 32));
      const __m256i lo = _mm256_and_si256(b, low);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(b, 4), low);
      const __m512i wq = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
      const __m128 dw = _mm_cvtph_ps(_mm_cvtsi32_si128(*reinterpret_cast<const int32_t*>(dr + 2 * sb)));
      const __m128 mw = _mm_cvtph_ps(_mm_cvtsi32_si128(*reinterpret_cast<const int32_t*>(mr + 2 * sb)));
      for (int t = 0; t < T; ++t) {
        const int64_t row = t0 + t;
        const __m512i xq = _mm512_loadu_si512(x.q + row * x.cols_padded + sb * kSuperBlock);
        const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wq, xq);
        const __m128 xd = _mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(x.d + row * nblk + 2 * sb)));
        const __m128 xs = _mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(x.s + row * nblk + 2 * sb)));
        const __m512 sc = _mm512_permutexvar_ps(pair_idx, _mm512_castps128_ps512(_mm_mul_ps(dw, xd)));
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), sc, acc[t]);
        macc[t] = _mm_fmadd_ps(mw, xs, macc[t]);
      }
    }
    for (int t = 0; t < T; ++t) {
      const __m128 m = macc[t];
      y[(t0 + t) * ldy + r] = _mm512_reduce_add_ps(acc[t]) + (_mm_cvtss_f32(m) + _mm_cvtss_f32(_mm_movehdup_ps(m)));
    }
  }
}

template <int T>
void q8_rows(const PackedInt8& w, int64_t r0, int64_t r1, const QuantActs& x, int64_t t0, float* y, int64_t ldy) {
  const int64_t nsb = w.cols_padded / kSuperBlock, nblk = 2 * nsb;
  const __m512i pair_idx = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
  for (int64_t r = r0; r < r1; ++r) {
    const int8_t* qs = w.qs + r * w.cols_padded;
    const uint16_t* dr = w.d + r * nblk;
    __m512 acc[T];
    for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t sb = 0; sb < nsb; ++sb) {
      // s8 x s8 through u8 x s8: |w| * (x with w's sign).
      const __m512i wq = _mm512_loadu_si512(qs + sb * kSuperBlock);
      const __m512i wabs = _mm512_abs_epi8(wq);
      const __mmask64 neg = _mm512_movepi8_mask(wq);
      const __m128 dw = _mm_cvtph_ps(_mm_cvtsi32_si128(*reinterpret_cast<const int32_t*>(dr + 2 * sb)));
      for (int t = 0; t < T; ++t) {
        const int64_t row = t0 + t;
        const __m512i xq = _mm512_loadu_si512(x.q + row * x.cols_padded + sb * kSuperBlock);
        const __m512i xs = _mm512_mask_sub_epi8(xq, neg, _mm512_setzero_si512(), xq);
        const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wabs, xs);
        const __m128 xd = _mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(x.d + row * nblk + 2 * sb)));
        const __m512 sc = _mm512_permutexvar_ps(pair_idx, _mm512_castps128_ps512(_mm_mul_ps(dw, xd)));
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), sc, acc[t]);
      }
    }
    for (int t = 0; t < T; ++t) y[(t0 + t) * ldy + r] = _mm512_reduce_add_ps(acc[t]);
  }
}

constexpr int64_t kRowTile = 16;


template <typename RowsFn>
void tiles(int64_t r0, int64_t r1, int64_t n, RowsFn&& fn) {
  for (int64_t rt = r0; rt < r1; rt += kRowTile) {
    const int64_t re = rt + kRowTile < r1 ? rt + kRowTile : r1;
    int64_t t = 0;
    for (; t + 4 <= n; t += 4) fn(rt, re, t, 4);
    if (n - t) fn(rt, re, t, n - t);
  }
}

void gemm_q4_q8(const PackedInt4& w, int64_t r0, int64_t r1, const QuantActs& x, float* y, int64_t ldy) {
  tiles(r0, r1, x.n, [&](int64_t rb, int64_t re, int64_t t0, int64_t nt) {
    switch (nt) {
      case 4: q4_rows<4>(w, rb, re, x, t0, y, ldy); break;
      case 3: q4_rows<3>(w, rb, re, x, t0, y, ldy); break;
      case 2: q4_rows<2>(w, rb, re, x, t0, y, ldy); break;
      default: q4_rows<1>(w, rb, re, x, t0, y, ldy); break;
    }
  });
}

void gemm_q8_q8(const PackedInt8& w, int64_t r0, int64_t r1, const QuantActs& x, float* y, int64_t ldy) {
  tiles(r0, r1, x.n, [&](int64_t rb, int64_t re, int64_t t0, int64_t nt) {
    switch (nt) {
      case 4: q8_rows<4>(w, rb, re, x, t0, y, ldy); break;
      case 3: q8_rows<3>(w, rb, re, x, t0, y, ldy); break;
      case 2: q8_rows<2>(w, rb, re, x, t0, y, ldy); break;
      default: q8_rows<1>(w, rb, re, x, t0, y, ldy); break;
    }
  });
}

void fp16_to_f32_row(const uint16_t* h, int64_t n, float* out) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(out + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(h + i))));
  if (i < n) avx2_kernels().fp16_to_f32(h + i, n - i, out + i);
}

float dot_f32(const float* a, const float* b, int64_t n) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
  }
  if (i + 16 <= n) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    i += 16;
  }
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    acc1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), acc1);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

void attn_scores(const float* q, const float* k, int64_t rows, int64_t dim, float scale, float* out) {
  if (dim % 16 != 0 || dim > 256) {
    for (int64_t i = 0; i < rows; ++i) out[i] = scale * dot_f32(q, k + i * dim, dim);
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

void rms_norm(const float* x, const float* w, int64_t n, float eps, float* out) {
  const float ss = dot_f32(x, x, n);
  const float inv = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
  const __m512 vinv = _mm512_set1_ps(inv);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_mul_ps(_mm512_loadu_ps(x + i), vinv), _mm512_loadu_ps(w + i)));
  for (; i < n; ++i) out[i] = x[i] * inv * w[i];
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
    t.dot_f32 = dot_f32;
    t.attn_scores = attn_scores;
    t.attn_accum = attn_accum;
    t.rms_norm = rms_norm;
    return t;
  }();
  return k;
}

}  // namespace lmd::cpu
