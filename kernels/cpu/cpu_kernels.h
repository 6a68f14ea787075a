// The CPU kernel set: one table of function pointers per ISA level (scalar reference,
// AVX2, AVX-512/VNNI), picked at run time from core/cpu_features. The scalar table is
// the oracle every fast variant is tested against (tests/unit/kernels).
//
// Packed weight layouts (built once at load by src/backend/cpu/cpu_weight.cc) are chosen for
// SIMD unpack:
//
// PackedInt4 — int4, 32-value blocks, each with fp16 scale d and fp16 min m
//   (a larger source group is split into 32-blocks that repeat its (d, m)).
//   qs:  [rows][cols_padded / 64][32] bytes; byte j of super-block s holds element 64s+j in
//        the low nibble and element 64s+32+j in the high nibble (so a 32-byte load gives
//        block 2s by masking and block 2s+1 by shifting);
//   d,m: fp16 [rows][nblk],  nblk = cols_padded / 32.  w = q * d + m.
// PackedInt8 — int8, 32-value blocks with an fp16 scale (GGUF Q8_0):
//   qs: int8 [rows][cols_padded];  d: fp16 [rows][nblk].  w = q * d.
// Padding columns (cols..cols_padded) have q = 0, d = 0, m = 0.
//
// PackLayout::kRows16 (the AVX-512 batched GEMM's layout; chosen at load by the backend when
// the AVX-512 table is active, replacing kRows, so there is one copy): rows are padded to a
// multiple of 16 (padding rows all zero) and stored in groups of 16 so that one 64-byte
// vector holds 16 rows x 4 consecutive columns of one block (vpdpbusd lane i = row i):
//   int4 qs: [rows16/16][nblk][4 steps k][16 rows i][4 bytes j]; the low nibble is column
//            32b + 4k + j, the high nibble column 32b + 16 + 4k + j (256 bytes per block);
//   int8 qs: [rows16/16][nblk][8 steps k][16 rows i][4 bytes j] = column 32b + 4k + j;
//   d, m:    fp16 [rows16/16][nblk][16 rows].
// q4_pos / q8_pos / scale_pos below give the position of (r, c) in either layout; every
// kernel table accepts both layouts (the scalar and AVX2 ones read kRows16 through them).
//
// Quantised activations (QuantActs, the fast path; as llama.cpp's Q8_1): per row, per
// 32-block: d = absmax / 127, q = rint(x / d) (round-half-even, via x * (1/d)), s = d * Σq.
#pragma once

#include <cstdint>

#include "core/cpu_features.h"

namespace lmd::cpu {

constexpr int kBlock = 32;      // values per quantisation block
constexpr int kSuperBlock = 64;  // columns are padded to a multiple of this

constexpr int kRowGroup = 16;  // rows per group in PackLayout::kRows16

inline int64_t pad_cols(int64_t cols) { return (cols + kSuperBlock - 1) / kSuperBlock * kSuperBlock; }

enum class PackLayout : uint8_t { kRows = 0, kRows16 = 1 };

// Rows allocated for a layout (kRows16 pads to whole 16-row groups).
inline int64_t packed_rows(PackLayout l, int64_t rows) {
  return l == PackLayout::kRows ? rows : (rows + kRowGroup - 1) / kRowGroup * kRowGroup;
}

struct PackedInt4 {
  int64_t rows = 0, cols = 0, cols_padded = 0;
  const uint8_t* qs = nullptr;
  const uint16_t* d = nullptr;
  const uint16_t* m = nullptr;
  PackLayout layout = PackLayout::kRows;
};

struct PackedInt8 {
  int64_t rows = 0, cols = 0, cols_padded = 0;
  const int8_t* qs = nullptr;
  const uint16_t* d = nullptr;
  PackLayout layout = PackLayout::kRows;
};

// Index into d / m of block b of row r.
inline int64_t scale_pos(PackLayout l, int64_t cols_padded, int64_t r, int64_t b) {
  const int64_t nblk = cols_padded / kBlock;
  if (l == PackLayout::kRows) return r * nblk + b;
  return ((r / kRowGroup) * nblk + b) * kRowGroup + r % kRowGroup;
}
// Byte index into qs of element (r, c) of an int4 matrix; *shift = 0 (low nibble) or 4.
inline int64_t q4_pos(PackLayout l, int64_t cols_padded, int64_t r, int64_t c, int* shift) {
  if (l == PackLayout::kRows) {
    const int64_t j = c % kSuperBlock;
    *shift = j < 32 ? 0 : 4;
    return r * (cols_padded / 2) + (c / kSuperBlock) * 32 + (j & 31);
  }
  const int64_t nblk = cols_padded / kBlock, b = c / kBlock, j = c % kBlock;
  *shift = j < 16 ? 0 : 4;
  const int64_t jj = j % 16;
  return (((r / kRowGroup) * nblk + b) * 4 + jj / 4) * 64 + (r % kRowGroup) * 4 + jj % 4;
}
inline int q4_code(const PackedInt4& w, int64_t r, int64_t c) {
  int shift = 0;
  const int64_t p = q4_pos(w.layout, w.cols_padded, r, c, &shift);
  return (w.qs[p] >> shift) & 15;
}
// Index into qs of element (r, c) of an int8 matrix.
inline int64_t q8_pos(PackLayout l, int64_t cols_padded, int64_t r, int64_t c) {
  if (l == PackLayout::kRows) return r * cols_padded + c;
  const int64_t nblk = cols_padded / kBlock, b = c / kBlock, j = c % kBlock;
  return (((r / kRowGroup) * nblk + b) * 8 + j / 4) * 64 + (r % kRowGroup) * 4 + j % 4;
}

// n rows of quantised activations: q [n][cols_padded], d and s [n][cols_padded/32].
struct QuantActs {
  int64_t n = 0, cols_padded = 0;
  const int8_t* q = nullptr;
  const float* d = nullptr;
  const float* s = nullptr;
};

struct Kernels {
  CpuIsa isa = CpuIsa::kScalar;
  // One activation row: cols values -> q [cols_padded], d and s [cols_padded/32].
  void (*quantize_row_q8)(const float* x, int64_t cols, int64_t cols_padded, int8_t* q, float* d, float* s);
  // y[t * ldy + r] = Σ_c w(r, c) * x(t, c) for r in [r0, r1), t in [0, x.n).
  void (*gemm_q4_q8)(const PackedInt4& w, int64_t r0, int64_t r1, const QuantActs& x, float* y, int64_t ldy);
  void (*gemm_q8_q8)(const PackedInt8& w, int64_t r0, int64_t r1, const QuantActs& x, float* y, int64_t ldy);
  // Row r of a packed weight as fp32 [cols] (exact path, embedding lookup).
  void (*dequant_row_q4)(const PackedInt4& w, int64_t r, float* out);
  void (*dequant_row_q8)(const PackedInt8& w, int64_t r, float* out);
  void (*fp16_to_f32)(const uint16_t* h, int64_t n, float* out);
  void (*bf16_to_f32)(const uint16_t* b, int64_t n, float* out);
  void (*f32_to_fp16)(const float* x, int64_t n, uint16_t* out);
  float (*dot_f32)(const float* a, const float* b, int64_t n);
  // out[i] = scale * dot(q, k + i*dim) for i < rows.
  void (*attn_scores)(const float* q, const float* k, int64_t rows, int64_t dim, float scale, float* out);
  // out += Σ_i p[i] * v[i*dim ..].
  void (*attn_accum)(const float* p, const float* v, int64_t rows, int64_t dim, float* out);
  // fp16 K / V read in place (the KV cache's kF16 rows), converted in registers; nq queries
  // share each converted row. q: [nq][dim]; k, v: fp16 [rows][dim].
  // out[i * ldo + r] = scale * dot(q + i*dim, k + r*dim) for i < nq, r < rows.
  void (*attn_scores_f16)(const float* q, int64_t nq, const uint16_t* k, int64_t rows, int64_t dim, float scale,
                          float* out, int64_t ldo);
  // out[i*dim + j] += Σ_r p[i * ldp + r] * v[r*dim + j] for i < np.
  void (*attn_accum_f16)(const float* p, int64_t ldp, int64_t np, const uint16_t* v, int64_t rows, int64_t dim,
                         float* out);
  // out = x / sqrt(mean(x^2) + eps) * w
  void (*rms_norm)(const float* x, const float* w, int64_t n, float eps, float* out);
  // out = silu(g) * u
  void (*silu_mul)(const float* g, const float* u, int64_t n, float* out);
  // x[i] = exp(x[i] - max) / Σ exp(x[j] - max), in place (attention probabilities).
  void (*softmax)(float* x, int64_t n);
};

const Kernels& reference_kernels();
const Kernels& avx2_kernels();
const Kernels& avx512_kernels();
// The table for `isa`, and for the active level.
const Kernels& kernels_for(CpuIsa isa);
inline const Kernels& kernels() { return kernels_for(cpu_isa()); }

}  // namespace lmd::cpu
