// Element types of tensors the library stores (workspace files, engine weights).
// Source-file types (GGUF's ggml types, safetensors' dtypes) are mapped to these at
// the format boundary.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace lmd {

enum class DType : uint8_t {
  kF32,
  kF16,
  kBF16,
  kI32,
  kU8,
  kI8,
  // Group-wise asymmetric int4: see core/weights.h (qweight nibbles + fp16 (scale, min)).
  kInt4,
};

// Bytes per element; kInt4 has no per-element size (returns 0).
size_t dtype_size(DType t);
// "fp32", "fp16", "bf16", "int32", "uint8", "int8", "int4" (the workspace's weight_type spelling).
const char* dtype_name(DType t);
// Inverse of dtype_name; also accepts "f32", "float32", "f16", "float16", "half",
// "bfloat16". Throws lmd::Error naming the value otherwise.
DType parse_dtype(const std::string& name);

}  // namespace lmd
