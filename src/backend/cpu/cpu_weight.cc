#include "backend/cpu/cpu_weight.h"

#include <cstring>

#include "core/error.h"
#include "kernels/common/int4.h"

namespace lmd::cpu {

CpuWeight::CpuWeight(const WeightTensor& w, PackLayout layout) {
  LMD_CHECK(w.shape.size() == 2) << "upload_weight: expected a matrix, got " << w.shape.size() << " dims";
  rows = w.rows();
  cols = w.cols();
  dtype = w.dtype;
  group_size = w.group_size;
  const int64_t cp = pad_cols(cols), nblk = cp / kBlock, prows = packed_rows(layout, rows);
  switch (w.dtype) {
    case DType::kInt4: {
      LMD_CHECK(w.group_size > 0 && w.group_size % kBlock == 0)
          << "int4 weight [" << rows << "x" << cols << "]: group size " << w.group_size
          << " not supported by the CPU backend (multiple of 32 needed)";
      kind_ = Kind::kInt4;
      qs_.assign(static_cast<size_t>(prows * cp / 2), 0);
      d_.assign(static_cast<size_t>(prows * nblk), 0);
      m_.assign(static_cast<size_t>(prows * nblk), 0);
      const uint16_t* sm = reinterpret_cast<const uint16_t*>(w.aux.data());
      const int64_t groups = cols / w.group_size;
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t c = 0; c < cols; ++c) {
          int shift = 0;
          const int64_t p = q4_pos(layout, cp, r, c, &shift);
          qs_[p] |= static_cast<uint8_t>(int4_get(w.data.data(), r * cols + c) << shift);
        }
        for (int64_t b = 0; b * kBlock < cols; ++b) {
          const int64_t g = r * groups + b * kBlock / w.group_size;
          const int64_t sp = scale_pos(layout, cp, r, b);
          d_[sp] = sm[2 * g];
          m_[sp] = sm[2 * g + 1];
        }
      }
      int4_ = PackedInt4{rows, cols, cp, qs_.data(), d_.data(), m_.data(), layout};
      break;
    }
    case DType::kI8: {
      LMD_CHECK(w.group_size > 0 && w.group_size % kBlock == 0)
          << "int8 weight [" << rows << "x" << cols << "]: group size " << w.group_size
          << " not supported by the CPU backend (multiple of 32 needed)";
      kind_ = Kind::kInt8;
      qs_.assign(static_cast<size_t>(prows * cp), 0);
      d_.assign(static_cast<size_t>(prows * nblk), 0);
      const uint16_t* sc = reinterpret_cast<const uint16_t*>(w.aux.data());
      const int64_t groups = cols / w.group_size;
      for (int64_t r = 0; r < rows; ++r) {
        const uint8_t* src = w.data.data() + r * cols;
        if (layout == PackLayout::kRows) {
          std::memcpy(qs_.data() + r * cp, src, static_cast<size_t>(cols));
        } else {  // 4-byte runs: (r, 4j..4j+3) are consecutive in both layouts
          for (int64_t c = 0; c < cols; c += 4) {
            const int64_t p = q8_pos(layout, cp, r, c);
            for (int64_t e = c; e < c + 4 && e < cols; ++e) qs_[p + e - c] = src[e];
          }
        }
        for (int64_t b = 0; b * kBlock < cols; ++b)
          d_[scale_pos(layout, cp, r, b)] = sc[r * groups + b * kBlock / w.group_size];
      }
      int8_ = PackedInt8{rows, cols, cp, reinterpret_cast<const int8_t*>(qs_.data()), d_.data(), layout};
      break;
    }
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
      kind_ = Kind::kDense;
      dense_ = w.data;
      break;
    default:
      throw Error(std::string("upload_weight: unsupported weight dtype ") + dtype_name(w.dtype),
                  Error::Kind::kUnsupported);
  }
}

void CpuWeight::row_f32(const Kernels& k, int64_t r, float* out) const {
  switch (kind_) {
    case Kind::kInt4: k.dequant_row_q4(int4_, r, out); return;
    case Kind::kInt8: k.dequant_row_q8(int8_, r, out); return;
    case Kind::kDense: break;
  }
  const uint8_t* row = dense_.data() + r * cols * static_cast<int64_t>(dtype_size(dtype));
  switch (dtype) {
    case DType::kF32: std::memcpy(out, row, static_cast<size_t>(cols) * 4); return;
    case DType::kF16: k.fp16_to_f32(reinterpret_cast<const uint16_t*>(row), cols, out); return;
    default: k.bf16_to_f32(reinterpret_cast<const uint16_t*>(row), cols, out); return;
  }
}

}  // namespace lmd::cpu
