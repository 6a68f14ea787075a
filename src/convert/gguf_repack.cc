// ggml block formats -> canonical WeightTensor (the table and bounds are in gguf_repack.h).
#include "convert/gguf_repack.h"

#include <cmath>
#include <cstring>

#include "core/error.h"
#include "kernels/common/half.h"

namespace lmd::convert {
namespace {

using gguf::GgmlType;

constexpr int kBlock = 32;     // values per canonical group
constexpr int kSuper = 256;    // values per K-quant super-block

uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
void store_u16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }

// Canonical int4 nibbles: value c at byte c/2, the low nibble for even c.
void put_nibble(uint8_t* nib, int64_t c, int q) { nib[c / 2] |= static_cast<uint8_t>(q << (4 * (c & 1))); }

// Q4_1 block: f16 d, f16 m, u8 qs[16]; value j = qs[j] & 15, value j+16 = qs[j] >> 4.
// Q4_0 block: f16 d, u8 qs[16]; same nibble order, value = (q - 8)·d.
WeightTensor repack_q4(const uint8_t* src, int64_t rows, int64_t cols, bool has_min) {
  const int64_t blocks = rows * cols / kBlock;
  const int64_t bb = has_min ? 20 : 18;
  std::vector<uint8_t> nib(static_cast<size_t>(rows * cols / 2));
  std::vector<uint8_t> sm(static_cast<size_t>(blocks * 4));
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* blk = src + b * bb;
    const uint8_t* qs = blk + (has_min ? 4 : 2);
    for (int j = 0; j < 16; ++j) {
      put_nibble(nib.data(), b * kBlock + j, qs[j] & 15);
      put_nibble(nib.data(), b * kBlock + j + 16, qs[j] >> 4);
    }
    std::memcpy(sm.data() + b * 4, blk, 2);  // scale = d (fp16 bits)
    if (has_min) {
      std::memcpy(sm.data() + b * 4 + 2, blk + 2, 2);  // min = m (fp16 bits)
    } else {
      // exact: a power-of-two multiple
      store_u16(sm.data() + b * 4 + 2, f32_to_fp16(-8.0f * fp16_to_f32(load_u16(blk))));
    }
  }
  return make_int4(rows, cols, kBlock, std::move(nib), std::move(sm));
}

// Q8_0 block: f16 d, i8 qs[32].
WeightTensor repack_q8_0(const uint8_t* src, int64_t rows, int64_t cols) {
  const int64_t blocks = rows * cols / kBlock;
  std::vector<uint8_t> q(static_cast<size_t>(rows * cols));
  std::vector<uint8_t> sc(static_cast<size_t>(blocks * 2));
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* blk = src + b * 34;
    std::memcpy(sc.data() + b * 2, blk, 2);
    std::memcpy(q.data() + b * kBlock, blk + 2, kBlock);
  }
  return make_int8_grouped(rows, cols, kBlock, std::move(q), std::move(sc));
}

// Q5_0 block: f16 d; u32 qh; u8 qs[16]. Value j (j < 16) = lo nibble of qs[j] | bit j of qh << 4,
// value j + 16 = hi nibble of qs[j] | bit j + 16 of qh << 4; w = d·(q - 16), q - 16 in [-16, 15].
WeightTensor repack_q5_0(const uint8_t* src, int64_t rows, int64_t cols) {
  const int64_t blocks = rows * cols / kBlock;
  std::vector<uint8_t> q(static_cast<size_t>(rows * cols));
  std::vector<uint8_t> sc(static_cast<size_t>(blocks * 2));
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* blk = src + b * 22;
    uint32_t qh;
    std::memcpy(&qh, blk + 2, 4);
    const uint8_t* qs = blk + 6;
    int8_t* out = reinterpret_cast<int8_t*>(q.data() + b * kBlock);
    for (int j = 0; j < 16; ++j) {
      out[j] = static_cast<int8_t>(((qs[j] & 15) | (((qh >> j) & 1) << 4)) - 16);
      out[j + 16] = static_cast<int8_t>(((qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16);
    }
    std::memcpy(sc.data() + b * 2, blk, 2);
  }
  return make_int8_grouped(rows, cols, kBlock, std::move(q), std::move(sc));
}

// Sub-block j's 6-bit (scale, min) of a Q4_K / Q5_K super-block, packed into 12 bytes.
void k_scale_min(const uint8_t* s, int j, int* sc, int* m) {
  if (j < 4) {
    *sc = s[j] & 0x3F;
    *m = s[j + 4] & 0x3F;
  } else {
    *sc = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
    *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// Q4_K super-block (144 bytes): f16 d, dmin; u8 scales[12]; u8 qs[128]. Sub-block s (32 values)
// holds nibble s % 2 of qs[32·(s / 2) + l]; w = (d·sc)·q - dmin·m. Each sub-block becomes one
// int4 group with scale fp16(d·sc), min fp16(-dmin·m). Returns false (nothing written) when a
// product overflows fp16; the caller then keeps the tensor dense.
bool repack_q4_k(const uint8_t* src, int64_t rows, int64_t cols, WeightTensor* out) {
  const int64_t supers = rows * cols / kSuper;
  std::vector<uint8_t> nib(static_cast<size_t>(rows * cols / 2));
  std::vector<uint8_t> sm(static_cast<size_t>(supers * 8 * 4));
  for (int64_t b = 0; b < supers; ++b) {
    const uint8_t* blk = src + b * 144;
    const float d = fp16_to_f32(load_u16(blk)), dmin = fp16_to_f32(load_u16(blk + 2));
    const uint8_t* qs = blk + 16;
    for (int s = 0; s < 8; ++s) {
      int sc, m;
      k_scale_min(blk + 4, s, &sc, &m);
      const float scale = d * static_cast<float>(sc), min = -(dmin * static_cast<float>(m));  // exact in f32
      if (!(std::fabs(scale) <= 65504.0f && std::fabs(min) <= 65504.0f)) return false;
      const int64_t g = b * 8 + s;
      store_u16(sm.data() + g * 4, f32_to_fp16(scale));
      store_u16(sm.data() + g * 4 + 2, f32_to_fp16(min));
      for (int l = 0; l < 32; ++l) put_nibble(nib.data(), g * kBlock + l, (qs[32 * (s / 2) + l] >> (4 * (s % 2))) & 15);
    }
  }
  *out = make_int4(rows, cols, kBlock, std::move(nib), std::move(sm));
  return true;
}

}  // namespace

WeightTensor gguf_matrix_to_weight(const gguf::GgufFile& f, const gguf::TensorInfo& t) {
  LMD_CHECK(t.ne.size() == 2) << f.path() << ": tensor '" << t.name << "' is not a matrix";
  const int64_t rows = t.ne[1], cols = t.ne[0];
  const std::vector<int64_t> shape{rows, cols};
  const uint8_t* src = f.tensor_data(t);
  switch (static_cast<GgmlType>(t.type)) {
    case GgmlType::Q4_1: return repack_q4(src, rows, cols, true);
    case GgmlType::Q4_0: return repack_q4(src, rows, cols, false);
    case GgmlType::Q8_0: return repack_q8_0(src, rows, cols);
    case GgmlType::Q5_0: return repack_q5_0(src, rows, cols);
    case GgmlType::Q4_K: {
      WeightTensor w;
      if (repack_q4_k(src, rows, cols, &w)) return w;
      break;  // out of fp16 range: f32 below
    }
    case GgmlType::F16:
    case GgmlType::BF16:
    case GgmlType::F32: {
      WeightTensor w;
      w.dtype = t.type == uint32_t(GgmlType::F16) ? DType::kF16 : t.type == uint32_t(GgmlType::BF16) ? DType::kBF16 : DType::kF32;
      w.shape = shape;
      w.data.assign(src, src + t.nbytes);
      return w;
    }
    case GgmlType::Q5_1:
    case GgmlType::Q6_K:
    case GgmlType::Q5_K:
    case GgmlType::Q3_K:
    case GgmlType::Q2_K: {
      const std::vector<float> v = gguf::dequantize_tensor(f, t);
      bool fits = true;
      for (const float x : v) fits = fits && std::fabs(x) <= 65504.0f;
      if (fits) return make_dense(DType::kF16, shape, v.data());
      return make_dense(DType::kF32, shape, v.data());
    }
    default: break;
  }
  const std::vector<float> v = gguf::dequantize_tensor(f, t);  // throws naming unsupported types
  return make_dense(DType::kF32, shape, v.data());
}

}  // namespace lmd::convert
