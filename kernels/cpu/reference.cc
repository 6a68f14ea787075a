// Scalar reference kernels: the readable oracle for every SIMD variant.
#include <algorithm>
#include <cmath>

#include "kernels/common/half.h"
#include "kernels/cpu/cpu_kernels.h"

namespace lmd::cpu {
namespace {

void quantize_row_q8(const float* x, int64_t cols, int64_t cols_padded, int8_t* q, float* d, float* s) {
  for (int64_t b = 0; b < cols_padded / kBlock; ++b) {
    const int64_t c0 = b * kBlock;
    float amax = 0.0f;
    for (int j = 0; j < kBlock; ++j) {
      const float v = c0 + j < cols ? x[c0 + j] : 0.0f;
      amax = std::fabs(v) > amax ? std::fabs(v) : amax;
    }
    const float db = amax / 127.0f;
    const float id = db > 0.0f ? 1.0f / db : 0.0f;
    int sum = 0;
    for (int j = 0; j < kBlock; ++j) {
      const float v = c0 + j < cols ? x[c0 + j] : 0.0f;
      const int qi = static_cast<int>(std::nearbyint(v * id));
      q[c0 + j] = static_cast<int8_t>(qi);
      sum += qi;
    }
    d[b] = db;
    s[b] = db * static_cast<float>(sum);
  }
}

// Both packed layouts are read through cpu_kernels.h's position helpers.
void gemm_q4_q8(const PackedInt4& w, int64_t r0, int64_t r1, const QuantActs& x, float* y, int64_t ldy) {
  const int64_t nblk = w.cols_padded / kBlock;
  for (int64_t t = 0; t < x.n; ++t) {
    const int8_t* xq = x.q + t * x.cols_padded;
    const float* xd = x.d + t * nblk;
    const float* xs = x.s + t * nblk;
    for (int64_t r = r0; r < r1; ++r) {
      float acc = 0.0f;
      for (int64_t b = 0; b < nblk; ++b) {
        int isum = 0;
        for (int j = 0; j < kBlock; ++j) isum += q4_code(w, r, b * kBlock + j) * xq[b * kBlock + j];
        const int64_t sp = scale_pos(w.layout, w.cols_padded, r, b);
        const float dw = fp16_to_f32(w.d[sp]), mw = fp16_to_f32(w.m[sp]);
        acc += dw * xd[b] * static_cast<float>(isum) + mw * xs[b];
      }
      y[t * ldy + r] = acc;
    }
  }
}

void gemm_q8_q8(const PackedInt8& w, int64_t r0, int64_t r1, const QuantActs& x, float* y, int64_t ldy) {
  const int64_t nblk = w.cols_padded / kBlock;
  for (int64_t t = 0; t < x.n; ++t) {
    const int8_t* xq = x.q + t * x.cols_padded;
    const float* xd = x.d + t * nblk;
    for (int64_t r = r0; r < r1; ++r) {
      float acc = 0.0f;
      for (int64_t b = 0; b < nblk; ++b) {
        int isum = 0;
        for (int j = 0; j < kBlock; ++j)
          isum += w.qs[q8_pos(w.layout, w.cols_padded, r, b * kBlock + j)] * xq[b * kBlock + j];
        acc += fp16_to_f32(w.d[scale_pos(w.layout, w.cols_padded, r, b)]) * xd[b] * static_cast<float>(isum);
      }
      y[t * ldy + r] = acc;
    }
  }
}

void dequant_row_q4(const PackedInt4& w, int64_t r, float* out) {
  for (int64_t c = 0; c < w.cols; ++c) {
    const int64_t sp = scale_pos(w.layout, w.cols_padded, r, c / kBlock);
    out[c] = static_cast<float>(q4_code(w, r, c)) * fp16_to_f32(w.d[sp]) + fp16_to_f32(w.m[sp]);
  }
}

void dequant_row_q8(const PackedInt8& w, int64_t r, float* out) {
  for (int64_t c = 0; c < w.cols; ++c)
    out[c] = fp16_to_f32(w.d[scale_pos(w.layout, w.cols_padded, r, c / kBlock)]) *
             static_cast<float>(w.qs[q8_pos(w.layout, w.cols_padded, r, c)]);
}

void fp16_to_f32_row(const uint16_t* h, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = fp16_to_f32(h[i]);
}
void bf16_to_f32_row(const uint16_t* b, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_f32(b[i]);
}
void f32_to_fp16_row(const float* x, int64_t n, uint16_t* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = f32_to_fp16(x[i]);
}

float dot_f32(const float* a, const float* b, int64_t n) {
  float acc = 0.0f;
  for (int64_t i = 0; i < n; ++i) acc += a[i] * b[i];
  return acc;
}

void attn_scores(const float* q, const float* k, int64_t rows, int64_t dim, float scale, float* out) {
  for (int64_t i = 0; i < rows; ++i) out[i] = scale * dot_f32(q, k + i * dim, dim);
}

void attn_accum(const float* p, const float* v, int64_t rows, int64_t dim, float* out) {
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < dim; ++j) out[j] += p[i] * v[i * dim + j];
}

// Same order of operations as attn_scores / attn_accum on the converted rows.
void attn_scores_f16(const float* q, int64_t nq, const uint16_t* k, int64_t rows, int64_t dim, float scale, float* out,
                     int64_t ldo) {
  for (int64_t i = 0; i < nq; ++i)
    for (int64_t r = 0; r < rows; ++r) {
      float acc = 0.0f;
      for (int64_t j = 0; j < dim; ++j) acc += q[i * dim + j] * fp16_to_f32(k[r * dim + j]);
      out[i * ldo + r] = scale * acc;
    }
}

void attn_accum_f16(const float* p, int64_t ldp, int64_t np, const uint16_t* v, int64_t rows, int64_t dim, float* out) {
  for (int64_t i = 0; i < np; ++i)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < dim; ++j) out[i * dim + j] += p[i * ldp + r] * fp16_to_f32(v[r * dim + j]);
}

void rms_norm(const float* x, const float* w, int64_t n, float eps, float* out) {
  float ss = 0.0f;
  for (int64_t i = 0; i < n; ++i) ss += x[i] * x[i];
  const float inv = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * inv * w[i];
}

void silu_mul(const float* g, const float* u, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

void softmax(float* x, int64_t n) {
  if (n <= 0) return;
  float mx = x[0];
  for (int64_t i = 1; i < n; ++i) mx = std::max(mx, x[i]);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = 1.0f / sum;
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

}  // namespace

const Kernels& reference_kernels() {
  static const Kernels k = [] {
    Kernels t;
    t.isa = CpuIsa::kScalar;
    t.quantize_row_q8 = quantize_row_q8;
    t.gemm_q4_q8 = gemm_q4_q8;
    t.gemm_q8_q8 = gemm_q8_q8;
    t.dequant_row_q4 = dequant_row_q4;
    t.dequant_row_q8 = dequant_row_q8;
    t.fp16_to_f32 = fp16_to_f32_row;
    t.bf16_to_f32 = bf16_to_f32_row;
    t.f32_to_fp16 = f32_to_fp16_row;
    t.dot_f32 = dot_f32;
    t.attn_scores = attn_scores;
    t.attn_accum = attn_accum;
    t.attn_scores_f16 = attn_scores_f16;
    t.attn_accum_f16 = attn_accum_f16;
    t.rms_norm = rms_norm;
    t.silu_mul = silu_mul;
    t.softmax = softmax;
    return t;
  }();
  return k;
}

const Kernels& kernels_for(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kAvx512: return avx512_kernels();
    case CpuIsa::kAvx2: return avx2_kernels();
    case CpuIsa::kScalar: break;
  }
  return reference_kernels();
}

}  // namespace lmd::cpu
