#include "core/dtype.h"

#include "core/error.h"

namespace lmd {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::kF32: return 4;
    case DType::kI32: return 4;
    case DType::kF16: return 2;
    case DType::kBF16: return 2;
    case DType::kU8: return 1;
    case DType::kI8: return 1;
    case DType::kInt4: return 0;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::kF32: return "fp32";
    case DType::kF16: return "fp16";
    case DType::kBF16: return "bf16";
    case DType::kI32: return "int32";
    case DType::kU8: return "uint8";
    case DType::kI8: return "int8";
    case DType::kInt4: return "int4";
  }
  return "?";
}

DType parse_dtype(const std::string& n) {
  if (n == "fp32" || n == "f32" || n == "float32") return DType::kF32;
  if (n == "fp16" || n == "f16" || n == "float16" || n == "half") return DType::kF16;
  if (n == "bf16" || n == "bfloat16") return DType::kBF16;
  if (n == "int32" || n == "i32") return DType::kI32;
  if (n == "uint8" || n == "u8") return DType::kU8;
  if (n == "int8" || n == "i8") return DType::kI8;
  if (n == "int4" || n == "w4") return DType::kInt4;
  throw Error("unknown data type '" + n + "' (expected fp32, fp16, bf16 or int4)");
}

}  // namespace lmd
