// One GGUF weight matrix -> the canonical WeightTensor (core/weights.h) the CPU backend's
// kernels run: ggml block formats are mapped onto int4 / grouped int8 / dense f16 without a
// detour through f32 wherever the mapping is exact or nearly so.
//
//   ggml type  canonical form                   exactness (vs gguf-py's f32 dequantisation)
//   Q4_0       kInt4 g32, min = -8·d            exact
//   Q4_1       kInt4 g32, (d, m)                exact
//   Q8_0       kI8 g32, scale d                 exact
//   Q5_0       kI8 g32, q - 16, scale d         exact
//   Q4_K       kInt4 g32 per sub-block:         nibbles exact; the two products rounded to fp16:
//              scale = fp16(d·sc),              with A = d·sc, B = dmin·m (both exact in f32),
//              min   = fp16(-dmin·m)            |ours - gguf| <= (2^-11 + 2^-23)(|A|·q + |B|)
//                                                                + 2^-25·(q + 1)   per element
//              (2^-11: fp16 rounding of a normal number; 2^-25: of a subnormal; 2^-23: the two
//              f32 roundings of the final difference, one on each side)
//   Q5_1, Q6_K, Q5_K, Q3_K, Q2_K  kF16 dense    gguf's f32 value rounded to fp16: relative
//                                               <= 2^-11 (absolute <= 2^-25 below 2^-14)
//   F16 / BF16 / F32            the same dtype  exact
// Q6_K has a scale per 16 values; the int8 format one per 32, and a Q6_K tensor whose
// 16-halves share their scale everywhere is practically never written by llama.cpp's quantiser,
// so it goes to f16 (see docs/benchmarks.md "K-quant GGUFs (Q4_K_M)" for the cost).
// A tensor with a scale product or value outside fp16's range (|x| > 65504) is kept as f32.
// Any other type (IQ*, ...) is an error naming the tensor and its type.
#pragma once

#include <string>

#include "core/weights.h"
#include "format/gguf.h"

namespace lmd::convert {

// The matrix `t` of `f` ([rows = ne[1], cols = ne[0]]) in its canonical form, per the table.
WeightTensor gguf_matrix_to_weight(const gguf::GgufFile& f, const gguf::TensorInfo& t);

}  // namespace lmd::convert
