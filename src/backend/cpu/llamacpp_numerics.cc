#include "backend/cpu/llamacpp_numerics.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "kernels/common/half.h"
#include "kernels/cpu/llamacpp_dot_impl.h"

namespace lmd::cpu::llamacpp {

float vexpf(float x) {
  // ggml_v_expf: n = round(x / ln2) via the 1.5*2^23 trick, b = x - n*ln2 in two fma steps
  // (hi/lo parts of ln2), exp(b) by a polynomial in b and b^2, then scalef(j, n) = j * 2^n.
  const float r = 0x1.8p23f;
  const float z = std::fma(x, 0x1.715476p+0f, r);
  const float n = z - r;
  const float b = std::fma(-n, 0x1.7f7d1cp-20f, std::fma(-n, 0x1.62e4p-1f, x));
  const float u = b * b;
  const float hi = std::fma(std::fma(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, std::fma(0x1.555e66p-3f, b, 0x1.fffdb6p-2f));
  const float j = std::fma(hi, u, std::fma(0x1.ffffecp-1f, b, 1.0f));
  if (std::fabs(n) > 192.0f) return n <= 0.0f ? 0.0f : std::numeric_limits<float>::infinity();
  if (std::isnan(n)) return n;
  // scalef: exact power-of-two scaling with one rounding (ldexpf rounds like the hardware
  // in round-to-nearest, including gradual underflow).
  return std::ldexp(j, static_cast<int>(n));
}

float vsilu(float x) { return x / (1.0f + vexpf(0.0f - x)); }

float reduce_add16(const float* v) {
  float t8[8], t4[4];
  for (int i = 0; i < 8; ++i) t8[i] = v[8 + i] + v[i];
  for (int i = 0; i < 4; ++i) t4[i] = t8[4 + i] + t8[i];
  return (t4[0] + t4[2]) + (t4[1] + t4[3]);
}

namespace {

// One 32-block: amax, d, id, rounded codes; returns Σq.
int quantize_block(const float* x, int8_t* q, float* d_out) {
  float amax = 0.0f;
  for (int j = 0; j < kBlock; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
  int sum = 0;
  for (int j = 0; j < kBlock; ++j) {
    const int v = static_cast<int>(std::nearbyint(x[j] * id));  // round-half-even (default mode)
    q[j] = static_cast<int8_t>(v);
    sum += v;
  }
  *d_out = d;
  return sum;
}

// _mm512_fmadd over 4 x 16 accumulators, reduced as GGML_F32x16_REDUCE.
inline float reduce_4x16(float acc[4][16]) {
  for (int l = 0; l < 16; ++l) {
    acc[0][l] = acc[0][l] + acc[2][l];
    acc[1][l] = acc[1][l] + acc[3][l];
  }
  for (int l = 0; l < 16; ++l) acc[0][l] = acc[0][l] + acc[1][l];
  return reduce_add16(acc[0]);
}

}  // namespace

void quantize_row_q8_1(const float* x, int64_t n, int8_t* q, uint16_t* d, uint16_t* s) {
  LMD_CHECK(n % kBlock == 0) << "llama.cpp numerics: row of " << n << " values is not a multiple of 32";
  for (int64_t b = 0; b < n / kBlock; ++b) {
    float db = 0.0f;
    const int sum = quantize_block(x + b * kBlock, q + b * kBlock, &db);
    d[b] = f32_to_fp16(db);
    s[b] = f32_to_fp16(db * static_cast<float>(sum));
  }
}

void quantize_row_q8_0(const float* x, int64_t n, int8_t* q, uint16_t* d) {
  LMD_CHECK(n % kBlock == 0) << "llama.cpp numerics: row of " << n << " values is not a multiple of 32";
  for (int64_t b = 0; b < n / kBlock; ++b) {
    float db = 0.0f;
    quantize_block(x + b * kBlock, q + b * kBlock, &db);
    d[b] = f32_to_fp16(db);
  }
}

// The two dots exist twice: portable (llamacpp_dot_impl.h) and AVX2 (kernels/cpu/llamacpp_avx2.cc),
// with the same results; the hot loop of this mode, so the AVX2 one is used when available.
float vec_dot_q4_1_q8_1(const PackedInt4& w, int64_t r, const int8_t* q, const uint16_t* d, const uint16_t* s) {
  static const bool avx2 = cpu_isa() >= CpuIsa::kAvx2;
  return avx2 ? dot_q4_1_q8_1_avx2(w, r, q, d, s) : dot_impl::dot_q4_1_q8_1(w, r, q, d, s);
}

float vec_dot_q8_0_q8_0(const PackedInt8& w, int64_t r, const int8_t* q, const uint16_t* d) {
  static const bool avx2 = cpu_isa() >= CpuIsa::kAvx2;
  return avx2 ? dot_q8_0_q8_0_avx2(w, r, q, d) : dot_impl::dot_q8_0_q8_0(w, r, q, d);
}

void rms_norm(const float* x, const float* w, int64_t n, float eps, float* out) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const float scale = 1.0f / std::sqrt(mean + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = (x[i] * scale) * w[i];
}

void swiglu(const float* g, const float* u, int64_t n, float* out) {
  const int64_t nv = n / 16 * 16;  // elements in full 16-lane vectors
  int64_t i = 0;
  for (; i < nv; ++i) out[i] = vsilu(g[i]) * u[i];
  for (; i < n; ++i) out[i] = (g[i] / (1.0f + std::exp(-g[i]))) * u[i];
}

void rope_cache(int64_t pos, float base, int rot_dim, float* cos_out, float* sin_out) {
  const float theta_scale = std::pow(base, -2.0f / static_cast<float>(rot_dim));
  float theta = static_cast<float>(pos);
  for (int j = 0; j < rot_dim / 2; ++j) {
    cos_out[j] = std::cos(theta);
    sin_out[j] = std::sin(theta);
    theta *= theta_scale;
  }
}

void rope_pair(float x0, float x1, float c, float s, float* y0, float* y1) {
  // GCC contracts x0*c - x1*s into fma(x0, c, -(x1*s)) and x0*s + x1*c into fma(x0, s, x1*c)
  // in ggml's build (-O3 -march=native, -ffp-contract=fast): checked against libggml.
  *y0 = std::fma(x0, c, -(x1 * s));
  *y1 = std::fma(x0, s, x1 * c);
}

float vec_dot_f16(const uint16_t* x, const uint16_t* y, int64_t n) {
  const int64_t np = n & ~int64_t{63};
  float acc[4][16] = {};
  for (int64_t i = 0; i < np; i += 64)
    for (int j = 0; j < 4; ++j)
      for (int l = 0; l < 16; ++l) {
        const int64_t e = i + 16 * j + l;
        acc[j][l] = std::fma(fp16_to_f32(x[e]), fp16_to_f32(y[e]), acc[j][l]);
      }
  double sum = reduce_4x16(acc);
  for (int64_t e = np; e < n; ++e) sum += static_cast<double>(fp16_to_f32(x[e]) * fp16_to_f32(y[e]));
  return static_cast<float>(sum);
}

void soft_max(const float* kq, int64_t ctx, int64_t n_kv, float scale, float* p) {
  // ggml_compute_forward_soft_max_f32: w = kq * scale (+ mask: -inf past ctx), max, then
  // ggml_vec_soft_max_f32 (16-lane exponentials, each vector's float sum added in double),
  // then p = e * (float)(1 / sum).
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t t = 0; t < ctx; ++t) {
    p[t] = kq[t] * scale;
    mx = std::max(mx, p[t]);
  }
  double sum = 0.0;
  for (int64_t b = 0; b < n_kv; b += 16) {
    float e[16];
    for (int l = 0; l < 16; ++l) e[l] = b + l < ctx ? vexpf(p[b + l] - mx) : 0.0f;
    for (int l = 0; l < 16; ++l) p[b + l] = e[l];
    sum += static_cast<double>(reduce_add16(e));
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t t = 0; t < n_kv; ++t) p[t] = p[t] * inv;
}

void attend_head(const float* q, const uint16_t* k, const uint16_t* v, int64_t ctx, int64_t ld, int head_dim,
                 float scale, float* scratch, float* out) {
  // llama.cpp's KV view has n_kv cells (a multiple of 256, so of 64); the cells past ctx are
  // masked (-inf -> exp 0 -> p 0) and add exact zeros to every sum below: padding ctx to 64
  // reproduces the same lanes and chunks.
  const int64_t n = (ctx + 63) / 64 * 64;
  float* kq = scratch;                                         // [n] K·Q dots
  float* p = kq + n;                                           // [n] probabilities
  uint16_t* p16 = reinterpret_cast<uint16_t*>(p + n);          // [n] as fp16
  uint16_t* q16 = reinterpret_cast<uint16_t*>(p + 2 * n);      // [head_dim] Q as fp16
  for (int i = 0; i < head_dim; ++i) q16[i] = f32_to_fp16(q[i]);
  for (int64_t t = 0; t < ctx; ++t) kq[t] = vec_dot_f16(k + t * ld, q16, head_dim);
  soft_max(kq, ctx, n, scale, p);
  for (int64_t t = 0; t < n; ++t) p16[t] = f32_to_fp16(p[t]);
  // out[d] = ggml_vec_dot_f16 over the n cells of V's column d and p16.
  for (int d = 0; d < head_dim; ++d) {
    float acc[4][16] = {};
    for (int64_t i = 0; i < n; i += 64)
      for (int j = 0; j < 4; ++j)
        for (int l = 0; l < 16; ++l) {
          const int64_t t = i + 16 * j + l;
          if (t >= ctx) continue;  // p = 0: fma(0, v, acc) == acc
          acc[j][l] = std::fma(fp16_to_f32(v[t * ld + d]), fp16_to_f32(p16[t]), acc[j][l]);
        }
    out[d] = reduce_4x16(acc);
  }
}

}  // namespace lmd::cpu::llamacpp
