#include "core/weights.h"

#include <cstring>

#include "core/error.h"
#include "kernels/common/half.h"

namespace lmd {

int64_t WeightTensor::numel() const {
  int64_t n = shape.empty() ? 0 : 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::vector<float> WeightTensor::to_f32() const {
  const int64_t n = numel();
  std::vector<float> out(static_cast<size_t>(n));
  switch (dtype) {
    case DType::kF32:
      std::memcpy(out.data(), data.data(), n * 4);
      break;
    case DType::kF16: {
      const uint16_t* p = reinterpret_cast<const uint16_t*>(data.data());
      for (int64_t i = 0; i < n; ++i) out[i] = fp16_to_f32(p[i]);
      break;
    }
    case DType::kBF16: {
      const uint16_t* p = reinterpret_cast<const uint16_t*>(data.data());
      for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_f32(p[i]);
      break;
    }
    case DType::kInt4: {
      const int64_t r = rows(), c = cols(), groups = c / group_size;
      const uint16_t* sm = reinterpret_cast<const uint16_t*>(aux.data());
      for (int64_t i = 0; i < r; ++i) {
        for (int64_t j = 0; j < c; ++j) {
          const int64_t idx = i * c + j;
          const uint8_t byte = data[idx / 2];
          const int q = (j & 1) ? (byte >> 4) : (byte & 15);
          const int64_t g = i * groups + j / group_size;
          out[idx] = static_cast<float>(q) * fp16_to_f32(sm[2 * g]) + fp16_to_f32(sm[2 * g + 1]);
        }
      }
      break;
    }
    case DType::kI8: {
      LMD_CHECK(group_size > 0) << "to_f32: int8 weight without group scales";
      const int64_t c = cols(), groups = c / group_size;
      const uint16_t* sc = reinterpret_cast<const uint16_t*>(aux.data());
      const int8_t* q = reinterpret_cast<const int8_t*>(data.data());
      for (int64_t idx = 0; idx < n; ++idx) {
        const int64_t g = (idx / c) * groups + (idx % c) / group_size;
        out[idx] = fp16_to_f32(sc[g]) * static_cast<float>(q[idx]);
      }
      break;
    }
    default:
      throw Error(std::string("to_f32: unsupported weight dtype ") + dtype_name(dtype));
  }
  return out;
}

WeightTensor make_dense(DType dtype, std::vector<int64_t> shape, const float* values) {
  WeightTensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  const int64_t n = t.numel();
  t.data.resize(static_cast<size_t>(n) * dtype_size(dtype));
  switch (dtype) {
    case DType::kF32:
      std::memcpy(t.data.data(), values, n * 4);
      break;
    case DType::kF16: {
      uint16_t* p = reinterpret_cast<uint16_t*>(t.data.data());
      for (int64_t i = 0; i < n; ++i) p[i] = f32_to_fp16(values[i]);
      break;
    }
    case DType::kBF16: {
      uint16_t* p = reinterpret_cast<uint16_t*>(t.data.data());
      for (int64_t i = 0; i < n; ++i) p[i] = f32_to_bf16(values[i]);
      break;
    }
    default:
      throw Error(std::string("make_dense: not a dense float dtype: ") + dtype_name(dtype));
  }
  return t;
}

WeightTensor make_int8_grouped(int64_t rows, int64_t cols, int group_size, std::vector<uint8_t> values,
                               std::vector<uint8_t> scales_fp16) {
  LMD_CHECK(group_size > 0 && cols % group_size == 0)
      << "int8 weight: group size " << group_size << " does not divide " << cols << " columns";
  LMD_CHECK(static_cast<int64_t>(values.size()) == rows * cols)
      << "int8 weight: " << values.size() << " values for " << rows << "x" << cols;
  LMD_CHECK(static_cast<int64_t>(scales_fp16.size()) == rows * (cols / group_size) * 2)
      << "int8 weight: " << scales_fp16.size() << " bytes of scales for " << rows << "x" << cols;
  WeightTensor t;
  t.dtype = DType::kI8;
  t.shape = {rows, cols};
  t.group_size = group_size;
  t.data = std::move(values);
  t.aux = std::move(scales_fp16);
  return t;
}

WeightTensor make_int4(int64_t rows, int64_t cols, int group_size, std::vector<uint8_t> nibbles,
                       std::vector<uint8_t> scale_min_fp16) {
  LMD_CHECK(group_size > 0 && cols % group_size == 0 && cols % 2 == 0)
      << "int4 weight: group size " << group_size << " does not divide " << cols << " columns";
  LMD_CHECK(static_cast<int64_t>(nibbles.size()) == rows * cols / 2)
      << "int4 weight: " << nibbles.size() << " bytes of nibbles for " << rows << "x" << cols;
  LMD_CHECK(static_cast<int64_t>(scale_min_fp16.size()) == rows * (cols / group_size) * 4)
      << "int4 weight: " << scale_min_fp16.size() << " bytes of scales for " << rows << "x" << cols
      << " group " << group_size;
  WeightTensor t;
  t.dtype = DType::kInt4;
  t.shape = {rows, cols};
  t.group_size = group_size;
  t.data = std::move(nibbles);
  t.aux = std::move(scale_min_fp16);
  return t;
}

}  // namespace lmd
