// Group-wise asymmetric int4 weight quantisation and the AutoAWQ "gemm" packing.
//
// Quantisation of W [out, in] (PyTorch orientation) in groups of g consecutive input
// features of one row:
//   scale = fp16((max - min) / 15)           (stored fp16; the math below uses that value)
//   zero  = clamp(rint(-min / scale), 0, 15)
//   q     = clamp(rint(w / scale) + zero, 0, 15),   w' = (q - zero) * scale
// A group with max == min gets scale = 1 (all of its codes dequantise to the same value).
//
// AutoAWQ gemm packing (what HF "-AWQ" checkpoints hold):
//   qweight int32 [in, out/8], qzeros int32 [in/g, out/8], scales fp16 [in/g, out];
//   nibble k (bits 4k..4k+3) of packed column pc holds output column 8*pc + kAwqOrder[k].
#pragma once

#include <cstdint>
#include <vector>

namespace lmd::lite {

constexpr int kAwqOrder[8] = {0, 2, 4, 6, 1, 3, 5, 7};

struct QuantizedLinear {
  int64_t out = 0, in = 0;
  int group = 0;
  std::vector<uint8_t> q;         // [out, in] codes 0..15
  std::vector<uint8_t> zeros;     // [out, in/g]
  std::vector<uint16_t> scales;   // [out, in/g] fp16 bits
  std::vector<float> dequantize() const;  // [out, in]
};

// Throws naming the shape when `in` is not a multiple of `group` (or out of 8).
QuantizedLinear quantize_linear(const float* w, int64_t out, int64_t in, int group);
// w [out, in] replaced by its fake-quantised values (the AWQ search's inner step).
void fake_quantize(float* w, int64_t out, int64_t in, int group);

struct AwqPacked {
  std::vector<int32_t> qweight;   // [in, out/8]
  std::vector<int32_t> qzeros;    // [in/g, out/8]
  std::vector<uint16_t> scales;   // [in/g, out]
};
AwqPacked pack_awq(const QuantizedLinear& ql);
QuantizedLinear unpack_awq(const AwqPacked& p, int64_t out, int64_t in, int group);

}  // namespace lmd::lite
