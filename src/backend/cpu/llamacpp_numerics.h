// llama.cpp numerics mode of the CPU backend (CpuBackendOptions::llamacpp_numerics): scalar
// emulations of the float operations llama.cpp's CPU backend (ggml-cpu, as in
// llama-cpp-python 0.3.36) performs for a Llama-family GGUF in decode mode (one token per
// llama_decode), op by op and in the same order, so that greedy output can be compared bit
// for bit (docs/backend.md "Numerics parity with llama.cpp").
//
// Which ggml code paths are emulated (an x86 build with AVX-512F/DQ, FMA, F16C, no
// AVX512-FP16 — the reduction orders below depend on it):
//   activations x Q4_1 -> quantize_row_q8_1 + ggml_vec_dot_q4_1_q8_1 (256-bit AVX2 path);
//   activations x Q8_0 -> quantize_row_q8_0 + ggml_vec_dot_q8_0_q8_0 (256-bit AVX2 path);
//   RMSNorm            -> ggml_compute_forward_rms_norm_f32 then ggml_mul by the weight;
//   SwiGLU             -> ggml_vec_swiglu_f32 (16-lane ggml_v_silu / ggml_v_expf);
//   RoPE (normal mode) -> ggml_rope_cache_init (theta *= powf(base, -2/n_dims), cosf/sinf);
//   attention without flash-attn, f16 K/V cache -> Q rounded to f16, ggml_vec_dot_f16,
//     ggml_compute_forward_soft_max_f32 (16-lane expf, double sum per vector), P rounded to
//     f16, ggml_vec_dot_f16 over the KV cells (padded to a multiple of 64: empty cells add 0).
// Speed is not a goal: everything is scalar code that reproduces the SIMD lane layout.
#pragma once

#include <cstdint>

#include "kernels/cpu/cpu_kernels.h"

namespace lmd::cpu::llamacpp {

// One lane of ggml_v_expf (AVX-512 variant): a degree-5 polynomial on the reduced argument
// and _mm512_scalef_ps; |error| < 2 ulp against expf, but not the same bits as libm.
float vexpf(float x);
// One lane of ggml_v_silu: x / (1 + vexpf(0 - x)).
float vsilu(float x);
// _mm512_reduce_add_ps as GCC implements it: halves 8+8, 4+4, then (0+2)+(1+3).
float reduce_add16(const float* v);

// Activations quantised as ggml's x86 quantize_row_q8_1 / quantize_row_q8_0: per 32-block
// d = amax/127, q = round-half-even(x * (127/amax)); d stored as fp16, and for Q8_1 also
// s = fp16(d * Σq) (d in fp32). n must be a multiple of 32; q [n], d and s [n/32] fp16 bits.
void quantize_row_q8_1(const float* x, int64_t n, int8_t* q, uint16_t* d, uint16_t* s);
void quantize_row_q8_0(const float* x, int64_t n, int8_t* q, uint16_t* d);

// Row r of a packed weight (cols a multiple of 32) times one quantised activation row, as
// ggml_vec_dot_q4_1_q8_1 / ggml_vec_dot_q8_0_q8_0: 8 fp32 lanes, lane j accumulates the
// exact integer sum of elements 4j..4j+3 of each block with fma(d_w * d_x, sum, lane) in
// block order, then a 4+4, 2+2, 1+1 tree (plus Σ fma(m_w, s_x) for Q4_1).
float vec_dot_q4_1_q8_1(const PackedInt4& w, int64_t r, const int8_t* q, const uint16_t* d, const uint16_t* s);
float vec_dot_q8_0_q8_0(const PackedInt8& w, int64_t r, const int8_t* q, const uint16_t* d);

// out = (x * (1 / sqrtf(mean))) * w with mean = (float)(Σ (double)(x*x) / n).
void rms_norm(const float* x, const float* w, int64_t n, float eps, float* out);
// out = vsilu(g) * u in 16-lane chunks; a tail (n % 16) uses libm expf as ggml does.
void swiglu(const float* g, const float* u, int64_t n, float* out);

// ggml_rope_cache_init for one position (no YaRN, freq_scale 1, attn_factor 1):
// cos/sin [rot_dim/2].
void rope_cache(int64_t pos, float base, int rot_dim, float* cos_out, float* sin_out);
// Rotation of one adjacent pair (ggml's rotate_pairs as the compiler contracts it).
void rope_pair(float x0, float x1, float c, float s, float* y0, float* y1);

// ggml_vec_dot_f16 (AVX-512 F32Cx16 path): 4 accumulators of 16 lanes over 64-element
// steps, tree-reduced, then a double sum of the n % 64 tail.
float vec_dot_f16(const uint16_t* x, const uint16_t* y, int64_t n);

// ggml_compute_forward_soft_max_f32 over one row of n_kv cells (a multiple of 16) of which
// the first ctx are unmasked: kq [ctx] raw K·Q dots; p [n_kv] probabilities (0 past ctx).
void soft_max(const float* kq, int64_t ctx, int64_t n_kv, float scale, float* p);

// One query head of llama.cpp's non-flash attention over ctx cached positions:
//   q16 = fp16(q); s_i = dot_f16(k_i, q16) * scale; p = soft_max (ggml); out_d = dot_f16
//   over positions of fp16(p) and v[., d]. k, v: fp16 [ctx][ld] rows (head_dim used);
//   scratch: 3 * pad64(ctx) + 2 * head_dim floats.
void attend_head(const float* q, const uint16_t* k, const uint16_t* v, int64_t ctx, int64_t ld, int head_dim,
                 float scale, float* scratch, float* out);
inline int64_t attend_scratch_floats(int64_t ctx, int head_dim) {
  return 3 * ((ctx + 63) / 64 * 64) + 2 * static_cast<int64_t>(head_dim);
}

}  // namespace lmd::cpu::llamacpp
