// AVX2 + FMA + F16C variants of the CPU kernels (see cpu_kernels.h for layouts). The fp32
// kernels shared with AVX-512 (dot, rms_norm, silu_mul, softmax) are simd_float_kernels.h
// instantiated with simd::Avx2F32.
#include <immintrin.h>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/simd_float_kernels.h"
#include "kernels/cpu/simd_vec.h"

namespace lmd::cpu {
namespace {
using V = simd::Avx2F32;

void quantize_row_q8(const float* x, int64_t cols, int64_t cols_padded, int8_t* q, float* d, float* s) {
  const __m256 sign_mask = _mm256_set1_ps(-0.0f);
  for (int64_t b = 0; b < cols_padded / kBlock; ++b) {
    const int64_t c0 = b * kBlock;
    if (c0 + kBlock > cols) {  // padding / ragged tail: scalar path
      reference_kernels().quantize_row_q8(x + c0, cols > c0 ? cols - c0 : 0, kBlock, q + c0, d + b, s + b);
      continue;
    }
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    for (int i = 0; i < 4; ++i) {
      v[i] = _mm256_loadu_ps(x + c0 + 8 * i);
      amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign_mask, v[i]));
    }
    const float db = V::reduce_max(amax) / 127.0f;
    const float id = db > 0.0f ? 1.0f / db : 0.0f;
    const __m256 vid = _mm256_set1_ps(id);
    __m256i qi[4];
    __m256i sum = _mm256_setzero_si256();
    for (int i = 0; i < 4; ++i) {
      const __m256 r = _mm256_round_ps(_mm256_mul_ps(v[i], vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      qi[i] = _mm256_cvtps_epi32(r);
      sum = _mm256_add_epi32(sum, qi[i]);
    }
    // int32 x 32 -> int8 x 32 in order
    const __m256i p01 = _mm256_packs_epi32(qi[0], qi[1]);
    const __m256i p23 = _mm256_packs_epi32(qi[2], qi[3]);
    __m256i p = _mm256_packs_epi16(p01, p23);
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + c0), p);
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
    s4 = _mm_hadd_epi32(s4, s4);
    s4 = _mm_hadd_epi32(s4, s4);
    d[b] = db;
    s[b] = db * static_cast<float>(_mm_cvtsi128_si32(s4));
  }
}

inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

// Σ of u8 x s8 products in 8 int32 lanes.
inline __m256i dot_u8s8(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

template <int T>
void q4_rows(const PackedInt4& w, int64_t r0, int64_t r1, const QuantActs& x, int64_t t0, float* y, int64_t ldy) {
  const int64_t nsb = w.cols_padded / kSuperBlock, nblk = 2 * nsb;
  const __m256i low = _mm256_set1_epi8(0x0f);
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* qs = w.qs + r * (w.cols_padded / 2);
    const uint16_t* dr = w.d + r * nblk;
    const uint16_t* mr = w.m + r * nblk;
    __m256 acc[T];
    float macc[T];
    for (int t = 0; t < T; ++t) {
      acc[t] = _mm256_setzero_ps();
      macc[t] = 0.0f;
    }
    for (int64_t sb = 0; sb < nsb; ++sb) {
      const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + sb * 32));
      const __m256i lo = _mm256_and_si256(b, low);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(b, 4), low);
      const float d0 = h2f(dr[2 * sb]), d1 = h2f(dr[2 * sb + 1]);
      const float m0 = h2f(mr[2 * sb]), m1 = h2f(mr[2 * sb + 1]);
      for (int t = 0; t < T; ++t) {
        const int64_t row = t0 + t;
        const int8_t* xq = x.q + row * x.cols_padded + sb * kSuperBlock;
        const float* xd = x.d + row * nblk + 2 * sb;
        const float* xs = x.s + row * nblk + 2 * sb;
        const __m256i x0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq));
        const __m256i x1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + 32));
        const __m256 p0 = _mm256_cvtepi32_ps(dot_u8s8(lo, x0));
        const __m256 p1 = _mm256_cvtepi32_ps(dot_u8s8(hi, x1));
        acc[t] = _mm256_fmadd_ps(p0, _mm256_set1_ps(d0 * xd[0]), acc[t]);
        acc[t] = _mm256_fmadd_ps(p1, _mm256_set1_ps(d1 * xd[1]), acc[t]);
        macc[t] += m0 * xs[0] + m1 * xs[1];
      }
    }
    for (int t = 0; t < T; ++t) y[(t0 + t) * ldy + r] = V::reduce_add(acc[t]) + macc[t];
  }
}

// ---- PackLayout::kRows16 (cpu_kernels.h) on AVX2: each 64-byte step vector is two ymm of
// 8 rows x 4 bytes; one half-group (8 rows) x T tokens per call. The token's 4 activation
// bytes are broadcast; int4: maddubs gives 16-bit pair sums (|.| <= 2*15*127), and the 8
// steps of a block add in int16 (<= 30480, exact) before one madd to int32; int8: the
// sign trick (|w| x sign(x, w), pair sums <= 2*128*127) + madd per step. Then per block
// and token one cvt + one FMA with d_w[8] * d_x (+ one FMA with m_w[8] * s_x for int4).
template <bool kInt4, int T>
void half8_kernel(const uint8_t* gq, const uint16_t* gd, const uint16_t* gm, int64_t nblk, int h, const QuantActs& x,
                  int64_t t0, float* out) {
  const int64_t cp = x.cols_padded;
  const int8_t* xq = x.q + t0 * cp;
  const float* xd = x.d + t0 * nblk;
  const float* xs = x.s + t0 * nblk;
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
  auto bcast = [&](int t, int64_t off) {
    int32_t v;
    __builtin_memcpy(&v, xq + t * cp + off, 4);
    return _mm256_set1_epi32(v);
  };
  for (int64_t b = 0; b < nblk; ++b) {
    const int64_t xo = b * kBlock;
    __m256i ia[T];
    if constexpr (kInt4) {
      const uint8_t* p = gq + b * 256 + 32 * h;
      const __m256i low = _mm256_set1_epi8(0x0f);
      __m256i s16[T];
      for (int t = 0; t < T; ++t) s16[t] = _mm256_setzero_si256();
      for (int k = 0; k < 4; ++k) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 64 * k));
        const __m256i lo = _mm256_and_si256(v, low), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
        for (int t = 0; t < T; ++t) s16[t] = _mm256_add_epi16(s16[t], _mm256_maddubs_epi16(lo, bcast(t, xo + 4 * k)));
        for (int t = 0; t < T; ++t)
          s16[t] = _mm256_add_epi16(s16[t], _mm256_maddubs_epi16(hi, bcast(t, xo + 16 + 4 * k)));
      }
      for (int t = 0; t < T; ++t) ia[t] = _mm256_madd_epi16(s16[t], ones);
    } else {
      const uint8_t* p = gq + b * 512 + 32 * h;
      for (int t = 0; t < T; ++t) ia[t] = _mm256_setzero_si256();
      for (int k = 0; k < 8; ++k) {
        const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 64 * k));
        const __m256i wabs = _mm256_sign_epi8(w, w);
        for (int t = 0; t < T; ++t)
          ia[t] = _mm256_add_epi32(
              ia[t], _mm256_madd_epi16(_mm256_maddubs_epi16(wabs, _mm256_sign_epi8(bcast(t, xo + 4 * k), w)), ones));
      }
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(gd + b * kRowGroup + 8 * h)));
    for (int t = 0; t < T; ++t)
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ia[t]), _mm256_mul_ps(dw, _mm256_set1_ps(xd[t * nblk + b])), acc[t]);
    if constexpr (kInt4) {
      const __m256 mw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(gm + b * kRowGroup + 8 * h)));
      for (int t = 0; t < T; ++t) acc[t] = _mm256_fmadd_ps(mw, _mm256_set1_ps(xs[t * nblk + b]), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) _mm256_storeu_ps(out + 8 * t, acc[t]);
}

constexpr int kTokTile16 = 4;

// Rows [r0, r1) of a kRows16 matrix, by half-groups of 8 rows; rows outside are not written.
template <bool kInt4>
void gemm_rows16(const uint8_t* qs, const uint16_t* d, const uint16_t* m, int64_t cols_padded, int64_t r0, int64_t r1,
                 const QuantActs& x, float* y, int64_t ldy) {
  const int64_t nblk = cols_padded / kBlock;
  const int64_t gbytes = nblk * (kInt4 ? 256 : 512), gscales = nblk * kRowGroup;
  float tmp[kTokTile16 * 8];
  for (int64_t hg = r0 / 8; hg * 8 < r1; ++hg) {
    const int64_t g = hg / 2, row0 = hg * 8;
    const int h = static_cast<int>(hg % 2);
    const int64_t lo = r0 > row0 ? r0 - row0 : 0, hi = r1 - row0 < 8 ? r1 - row0 : 8;
    const uint8_t* gq = qs + g * gbytes;
    const uint16_t* gd = d + g * gscales;
    const uint16_t* gm = kInt4 ? m + g * gscales : nullptr;
    for (int64_t t = 0; t < x.n; t += kTokTile16) {
      const int64_t nt = x.n - t < kTokTile16 ? x.n - t : kTokTile16;
      switch (nt) {
        case 4: half8_kernel<kInt4, 4>(gq, gd, gm, nblk, h, x, t, tmp); break;
        case 3: half8_kernel<kInt4, 3>(gq, gd, gm, nblk, h, x, t, tmp); break;
        case 2: half8_kernel<kInt4, 2>(gq, gd, gm, nblk, h, x, t, tmp); break;
        default: half8_kernel<kInt4, 1>(gq, gd, gm, nblk, h, x, t, tmp); break;
      }
      for (int64_t i = 0; i < nt; ++i)
        for (int64_t r = lo; r < hi; ++r) y[(t + i) * ldy + row0 + r] = tmp[8 * i + r];
    }
  }
}

template <typename RowsFn>
void by_token_groups(int64_t n, RowsFn&& fn) {
  int64_t t = 0;
  for (; t + 4 <= n; t += 4) fn(t, 4);
  if (n - t) fn(t, n - t);
}

// Rows are split in tiles so a tile of weights stays in L1 while every token passes it.
constexpr int64_t kRowTile = 16;

void gemm_q4_q8(const PackedInt4& w, int64_t r0, int64_t r1, const QuantActs& x, float* y, int64_t ldy) {
  if (w.layout == PackLayout::kRows16) {
    gemm_rows16<true>(w.qs, w.d, w.m, w.cols_padded, r0, r1, x, y, ldy);
    return;
  }
  for (int64_t rt = r0; rt < r1; rt += kRowTile) {
    const int64_t re = rt + kRowTile < r1 ? rt + kRowTile : r1;
    by_token_groups(x.n, [&](int64_t t0, int64_t nt) {
      switch (nt) {
        case 4: q4_rows<4>(w, rt, re, x, t0, y, ldy); break;
        case 3: q4_rows<3>(w, rt, re, x, t0, y, ldy); break;
        case 2: q4_rows<2>(w, rt, re, x, t0, y, ldy); break;
        default: q4_rows<1>(w, rt, re, x, t0, y, ldy); break;
      }
    });
  }
}

template <int T>
void q8_rows(const PackedInt8& w, int64_t r0, int64_t r1, const QuantActs& x, int64_t t0, float* y, int64_t ldy) {
  const int64_t nblk = w.cols_padded / kBlock;
  for (int64_t r = r0; r < r1; ++r) {
    const int8_t* qs = w.qs + r * w.cols_padded;
    const uint16_t* dr = w.d + r * nblk;
    __m256 acc[T];
    for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nblk; ++b) {
      const __m256i wq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + b * kBlock));
      const __m256i wabs = _mm256_sign_epi8(wq, wq);
      const float dw = h2f(dr[b]);
      for (int t = 0; t < T; ++t) {
        const int64_t row = t0 + t;
        const __m256i xq =
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.q + row * x.cols_padded + b * kBlock));
        const __m256 p = _mm256_cvtepi32_ps(dot_u8s8(wabs, _mm256_sign_epi8(xq, wq)));
        acc[t] = _mm256_fmadd_ps(p, _mm256_set1_ps(dw * x.d[row * nblk + b]), acc[t]);
      }
    }
    for (int t = 0; t < T; ++t) y[(t0 + t) * ldy + r] = V::reduce_add(acc[t]);
  }
}

void gemm_q8_q8(const PackedInt8& w, int64_t r0, int64_t r1, const QuantActs& x, float* y, int64_t ldy) {
  if (w.layout == PackLayout::kRows16) {
    gemm_rows16<false>(reinterpret_cast<const uint8_t*>(w.qs), w.d, nullptr, w.cols_padded, r0, r1, x, y, ldy);
    return;
  }
  for (int64_t rt = r0; rt < r1; rt += kRowTile) {
    const int64_t re = rt + kRowTile < r1 ? rt + kRowTile : r1;
    by_token_groups(x.n, [&](int64_t t0, int64_t nt) {
      switch (nt) {
        case 4: q8_rows<4>(w, rt, re, x, t0, y, ldy); break;
        case 3: q8_rows<3>(w, rt, re, x, t0, y, ldy); break;
        case 2: q8_rows<2>(w, rt, re, x, t0, y, ldy); break;
        default: q8_rows<1>(w, rt, re, x, t0, y, ldy); break;
      }
    });
  }
}

void dequant_row_q4(const PackedInt4& w, int64_t r, float* out) {
  if (w.layout != PackLayout::kRows) {  // kRows16 (embedding rows only on the fast path): scalar
    reference_kernels().dequant_row_q4(w, r, out);
    return;
  }
  const int64_t nsb = w.cols_padded / kSuperBlock, nblk = 2 * nsb;
  const uint8_t* qs = w.qs + r * (w.cols_padded / 2);
  for (int64_t sb = 0; sb < nsb; ++sb) {
    if ((sb + 1) * kSuperBlock > w.cols) {  // ragged tail
      for (int64_t c = sb * kSuperBlock; c < w.cols; ++c) {
        const int64_t j = c - sb * kSuperBlock, b = c / kBlock;
        const uint8_t byte = qs[sb * 32 + (j & 31)];
        const int q = j < 32 ? (byte & 15) : (byte >> 4);
        out[c] = static_cast<float>(q) * h2f(w.d[r * nblk + b]) + h2f(w.m[r * nblk + b]);
      }
      break;
    }
    const __m128i b0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs + sb * 32));
    const __m128i b1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs + sb * 32 + 16));
    const __m128i low = _mm_set1_epi8(0x0f);
    const __m128i parts[4] = {_mm_and_si128(b0, low), _mm_and_si128(b1, low),
                              _mm_and_si128(_mm_srli_epi16(b0, 4), low), _mm_and_si128(_mm_srli_epi16(b1, 4), low)};
    for (int p = 0; p < 4; ++p) {
      const int64_t b = 2 * sb + p / 2;
      const __m256 d = _mm256_set1_ps(h2f(w.d[r * nblk + b])), m = _mm256_set1_ps(h2f(w.m[r * nblk + b]));
      const __m256 f0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(parts[p]));
      const __m256 f1 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(parts[p], 8)));
      float* o = out + sb * kSuperBlock + p * 16;
      _mm256_storeu_ps(o, _mm256_add_ps(_mm256_mul_ps(f0, d), m));
      _mm256_storeu_ps(o + 8, _mm256_add_ps(_mm256_mul_ps(f1, d), m));
    }
  }
}

void fp16_to_f32_row(const uint16_t* h, int64_t n, float* out) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i))));
  for (; i < n; ++i) out[i] = h2f(h[i]);
}

void bf16_to_f32_row(const uint16_t* b, int64_t n, float* out) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i)));
    _mm256_storeu_ps(out + i, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
  }
  if (i < n) reference_kernels().bf16_to_f32(b + i, n - i, out + i);
}

void f32_to_fp16_row(const float* x, int64_t n, uint16_t* out) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  if (i < n) reference_kernels().f32_to_fp16(x + i, n - i, out + i);
}

void attn_accum(const float* p, const float* v, int64_t rows, int64_t dim, float* out) {
  int64_t j = 0;
  for (; j + 8 <= dim; j += 8) {
    __m256 acc = _mm256_loadu_ps(out + j);
    for (int64_t i = 0; i < rows; ++i) acc = _mm256_fmadd_ps(_mm256_set1_ps(p[i]), _mm256_loadu_ps(v + i * dim + j), acc);
    _mm256_storeu_ps(out + j, acc);
  }
  for (; j < dim; ++j)
    for (int64_t i = 0; i < rows; ++i) out[j] += p[i] * v[i * dim + j];
}

// fp16 K/V converted in registers by F16C (vcvtph2ps); dim not a multiple of 8 -> reference.
void attn_scores_f16(const float* q, int64_t nq, const uint16_t* k, int64_t rows, int64_t dim, float scale, float* out,
                     int64_t ldo) {
  if (dim % 8 != 0) {
    reference_kernels().attn_scores_f16(q, nq, k, rows, dim, scale, out, ldo);
    return;
  }
  for (int64_t r = 0; r < rows; ++r) {
    const uint16_t* kr = k + r * dim;
    auto kv = [&](int64_t j) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kr + j))); };
    for (int64_t i = 0; i < nq; ++i) {  // dot_f32's order: the same bits as the fp32 tile path
      const float* qi = q + i * dim;
      __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
      int64_t j = 0;
      for (; j + 16 <= dim; j += 16) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(qi + j), kv(j), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(qi + j + 8), kv(j + 8), acc1);
      }
      if (j < dim) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(qi + j), kv(j), acc0);
      out[i * ldo + r] = scale * V::reduce_add(_mm256_add_ps(acc0, acc1));
    }
  }
}

void attn_accum_f16(const float* p, int64_t ldp, int64_t np, const uint16_t* v, int64_t rows, int64_t dim, float* out) {
  if (dim % 8 != 0) {
    reference_kernels().attn_accum_f16(p, ldp, np, v, rows, dim, out);
    return;
  }
  for (int64_t j = 0; j < dim; j += 8) {
    for (int64_t i0 = 0; i0 < np; i0 += 4) {  // up to 4 queries share each converted row
      const int64_t nq = np - i0 < 4 ? np - i0 : 4;
      __m256 acc[4];
      for (int64_t i = 0; i < nq; ++i) acc[i] = _mm256_loadu_ps(out + (i0 + i) * dim + j);
      for (int64_t r = 0; r < rows; ++r) {
        const __m256 vv = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(v + r * dim + j)));
        for (int64_t i = 0; i < nq; ++i) acc[i] = _mm256_fmadd_ps(_mm256_set1_ps(p[(i0 + i) * ldp + r]), vv, acc[i]);
      }
      for (int64_t i = 0; i < nq; ++i) _mm256_storeu_ps(out + (i0 + i) * dim + j, acc[i]);
    }
  }
}

}  // namespace

const Kernels& avx2_kernels() {
  static const Kernels k = [] {
    Kernels t = reference_kernels();
    t.isa = CpuIsa::kAvx2;
    t.quantize_row_q8 = quantize_row_q8;
    t.gemm_q4_q8 = gemm_q4_q8;
    t.gemm_q8_q8 = gemm_q8_q8;
    t.dequant_row_q4 = dequant_row_q4;
    t.fp16_to_f32 = fp16_to_f32_row;
    t.bf16_to_f32 = bf16_to_f32_row;
    t.f32_to_fp16 = f32_to_fp16_row;
    t.dot_f32 = simd::dot_f32<V>;
    t.attn_scores = simd::attn_scores<V>;
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
