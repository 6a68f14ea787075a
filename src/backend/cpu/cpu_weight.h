// A weight matrix in the CPU kernels' layout (see kernels/cpu/cpu_kernels.h):
//   int4 (any group size that is a multiple of 32) -> PackedInt4;
//   grouped int8 (Q8_0)                             -> PackedInt8;
//   fp32 / fp16 / bf16                              -> kept dense, converted per row.
#pragma once

#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "kernels/cpu/cpu_kernels.h"
#include "core/weights.h"

namespace lmd::cpu {

class CpuWeight : public BackendWeight {
 public:
  // layout: PackLayout::kRows16 for the AVX-512 batched GEMM (quantised weights only; dense
  // ones ignore it). Every kernel table reads both layouts.
  explicit CpuWeight(const WeightTensor& w, PackLayout layout = PackLayout::kRows);

  enum class Kind { kInt4, kInt8, kDense };
  Kind kind() const { return kind_; }
  const PackedInt4& int4() const { return int4_; }
  const PackedInt8& int8() const { return int8_; }
  // Row r as fp32 [cols] into out (uses the active kernels).
  void row_f32(const Kernels& k, int64_t r, float* out) const;
  // Dense fp32 rows can be used in place (no conversion); nullptr otherwise.
  const float* dense_f32_row(int64_t r) const {
    return kind_ == Kind::kDense && dtype == DType::kF32
               ? reinterpret_cast<const float*>(dense_.data()) + r * cols
               : nullptr;
  }

 private:
  Kind kind_ = Kind::kDense;
  std::vector<uint8_t> qs_;    // int4 / int8 codes
  std::vector<uint16_t> d_;    // fp16 scales per 32-block
  std::vector<uint16_t> m_;    // fp16 mins per 32-block (int4)
  std::vector<uint8_t> dense_; // fp32 / fp16 / bf16 rows
  PackedInt4 int4_;
  PackedInt8 int8_;
};

}  // namespace lmd::cpu
