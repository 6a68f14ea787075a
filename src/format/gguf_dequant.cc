// Reference scalar dequantisation of ggml block formats to fp32.
//
// Bit-exact with gguf-py's quants.py (numpy, float32): every value is computed with the same
// float32 operations in the same association, e.g. Q4_1 is (d * q) + m and the K-quants
// first form the sub-block scale d * sc (and dmin * m) and then (d * sc) * q - dmin * m.
// The build uses -ffp-contract=off so no multiply-add is fused behind our back.
#include <cstring>

#include "core/error.h"
#include "format/gguf.h"
#include "kernels/common/half.h"

namespace lmd::gguf {

namespace {

constexpr int kQK = 32;     // elements per block of the legacy quants
constexpr int kQK_K = 256;  // elements per super-block of the K-quants

float load_f16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return fp16_to_f32(h);
}

uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// block: f16 d; u8 qs[16]. x[j] = (lo(qs[j]) - 8) * d, x[j + 16] = (hi(qs[j]) - 8) * d.
void q4_0(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  const uint8_t* qs = b + 2;
  for (int j = 0; j < kQK / 2; ++j) {
    y[j] = d * static_cast<float>((qs[j] & 0x0F) - 8);
    y[j + kQK / 2] = d * static_cast<float>((qs[j] >> 4) - 8);
  }
}

// block: f16 d, m; u8 qs[16]. x = d * q + m.
void q4_1(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  const float m = load_f16(b + 2);
  const uint8_t* qs = b + 4;
  for (int j = 0; j < kQK / 2; ++j) {
    y[j] = d * static_cast<float>(qs[j] & 0x0F) + m;
    y[j + kQK / 2] = d * static_cast<float>(qs[j] >> 4) + m;
  }
}

// block: f16 d; u32 qh; u8 qs[16]. Fifth bit of element i is bit i of qh.
void q5_0(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  const uint32_t qh = load_u32(b + 2);
  const uint8_t* qs = b + 6;
  for (int j = 0; j < kQK / 2; ++j) {
    const int lo = (qs[j] & 0x0F) | (((qh >> j) & 1) << 4);
    const int hi = (qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
    y[j] = d * static_cast<float>(lo - 16);
    y[j + kQK / 2] = d * static_cast<float>(hi - 16);
  }
}

// block: f16 d, m; u32 qh; u8 qs[16]. x = d * q + m.
void q5_1(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  const float m = load_f16(b + 2);
  const uint32_t qh = load_u32(b + 4);
  const uint8_t* qs = b + 8;
  for (int j = 0; j < kQK / 2; ++j) {
    const int lo = (qs[j] & 0x0F) | (((qh >> j) & 1) << 4);
    const int hi = (qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
    y[j] = d * static_cast<float>(lo) + m;
    y[j + kQK / 2] = d * static_cast<float>(hi) + m;
  }
}

// block: f16 d; i8 qs[32].
void q8_0(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  const int8_t* qs = reinterpret_cast<const int8_t*>(b + 2);
  for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(qs[j]) * d;
}

// block: u8 scales[16] (lo nibble scale, hi nibble min); u8 qs[64]; f16 d, dmin.
// Element i = 128 * half + 32 * shift + l takes bits 2*shift of qs[32 * half + l] and belongs
// to sub-block i / 16.
void q2_k(const uint8_t* b, float* y) {
  const uint8_t* scales = b;
  const uint8_t* qs = b + 16;
  const float d = load_f16(b + 80);
  const float dmin = load_f16(b + 82);
  for (int i = 0; i < kQK_K; ++i) {
    const int half = i / 128, shift = (i / 32) % 4, l = i % 32, sub = i / 16;
    const float dl = d * static_cast<float>(scales[sub] & 0x0F);
    const float ml = dmin * static_cast<float>(scales[sub] >> 4);
    const int q = (qs[32 * half + l] >> (2 * shift)) & 3;
    y[i] = dl * static_cast<float>(q) - ml;
  }
}

// block: u8 hmask[32]; u8 qs[64]; u8 scales[12] (16 packed 6-bit scales, offset 32); f16 d.
// q = low 2 bits - 4 when the hmask bit is clear.
void q3_k(const uint8_t* b, float* y) {
  const uint8_t* hmask = b;
  const uint8_t* qs = b + 32;
  const uint8_t* sc = b + 96;
  const float d = load_f16(b + 108);
  float dl[16];
  for (int s = 0; s < 16; ++s) {
    const int lo = (sc[s % 8] >> (4 * (s / 8))) & 0x0F;
    const int hi = (sc[8 + s % 4] >> (2 * (s / 4))) & 0x03;
    const int scale = (lo | (hi << 4)) - 32;
    dl[s] = d * static_cast<float>(scale);
  }
  for (int i = 0; i < kQK_K; ++i) {
    const int half = i / 128, shift = (i / 32) % 4, l = i % 32;
    const int ql = (qs[32 * half + l] >> (2 * shift)) & 3;
    const int hbit = (hmask[l] >> (i / 32)) & 1;
    const int q = ql - ((hbit ^ 1) << 2);
    y[i] = dl[i / 16] * static_cast<float>(q);
  }
}

// The 8 (scale, min) pairs of Q4_K / Q5_K, 6 bits each, packed into 12 bytes.
void k_scale_min(const uint8_t* s, int j, int* sc, int* m) {
  if (j < 4) {
    *sc = s[j] & 0x3F;
    *m = s[j + 4] & 0x3F;
  } else {
    *sc = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
    *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// block: f16 d, dmin; u8 scales[12]; u8 qs[128]. Element i = 64 * c + 32 * nib + l is the
// nibble `nib` of qs[32 * c + l], sub-block i / 32.
void q4_k(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  const float dmin = load_f16(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* qs = b + 16;
  for (int sub = 0; sub < 8; ++sub) {
    int sc, m;
    k_scale_min(scales, sub, &sc, &m);
    const float dl = d * static_cast<float>(sc);
    const float ml = dmin * static_cast<float>(m);
    const int c = sub / 2, nib = sub % 2;
    for (int l = 0; l < 32; ++l) {
      const int q = (qs[32 * c + l] >> (4 * nib)) & 0x0F;
      y[32 * sub + l] = dl * static_cast<float>(q) - ml;
    }
  }
}

// block: f16 d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]. As Q4_K plus a fifth bit: bit
// `sub` of qh[l].
void q5_k(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  const float dmin = load_f16(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* qh = b + 16;
  const uint8_t* qs = b + 48;
  for (int sub = 0; sub < 8; ++sub) {
    int sc, m;
    k_scale_min(scales, sub, &sc, &m);
    const float dl = d * static_cast<float>(sc);
    const float ml = dmin * static_cast<float>(m);
    const int c = sub / 2, nib = sub % 2;
    for (int l = 0; l < 32; ++l) {
      const int q = ((qs[32 * c + l] >> (4 * nib)) & 0x0F) | (((qh[l] >> sub) & 1) << 4);
      y[32 * sub + l] = dl * static_cast<float>(q) - ml;
    }
  }
}

// block: u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d. Element i = 128 * half + r (r < 128):
// low nibble `r / 64` of ql[64 * half + r % 64], high 2 bits (r / 32) of qh[32 * half + r % 32].
void q6_k(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* scales = reinterpret_cast<const int8_t*>(b + 192);
  const float d = load_f16(b + 208);
  for (int i = 0; i < kQK_K; ++i) {
    const int half = i / 128, r = i % 128;
    const int lo = (ql[64 * half + r % 64] >> (4 * (r / 64))) & 0x0F;
    const int hi = (qh[32 * half + r % 32] >> (2 * (r / 32))) & 0x03;
    const int q = static_cast<int8_t>(lo | (hi << 4)) - 32;
    const float dl = d * static_cast<float>(scales[i / 16]);
    y[i] = dl * static_cast<float>(q);
  }
}

using BlockFn = void (*)(const uint8_t*, float*);

BlockFn block_fn(uint32_t type) {
  switch (static_cast<GgmlType>(type)) {
    case GgmlType::Q4_0: return q4_0;
    case GgmlType::Q4_1: return q4_1;
    case GgmlType::Q5_0: return q5_0;
    case GgmlType::Q5_1: return q5_1;
    case GgmlType::Q8_0: return q8_0;
    case GgmlType::Q2_K: return q2_k;
    case GgmlType::Q3_K: return q3_k;
    case GgmlType::Q4_K: return q4_k;
    case GgmlType::Q5_K: return q5_k;
    case GgmlType::Q6_K: return q6_k;
    default: return nullptr;
  }
}

bool is_elementwise(uint32_t type) {
  return type == uint32_t(GgmlType::F32) || type == uint32_t(GgmlType::F16) ||
         type == uint32_t(GgmlType::BF16);
}

void check_supported(uint32_t type, const std::string& what) {
  LMD_CHECK_KIND(is_elementwise(type) || block_fn(type) != nullptr, kUnsupported)
      << what << " has unsupported type " << ggml_type_name(type) << " (id " << type
      << ") for dequantisation";
}

}  // namespace

void dequantize(uint32_t type, const uint8_t* src, float* dst, int64_t n_elements,
                const std::string& what) {
  check_supported(type, what);
  if (type == uint32_t(GgmlType::F32)) {
    std::memcpy(dst, src, static_cast<size_t>(n_elements) * 4);
    return;
  }
  if (type == uint32_t(GgmlType::F16)) {
    for (int64_t i = 0; i < n_elements; ++i) dst[i] = load_f16(src + 2 * i);
    return;
  }
  if (type == uint32_t(GgmlType::BF16)) {
    for (int64_t i = 0; i < n_elements; ++i) {
      uint16_t h;
      std::memcpy(&h, src + 2 * i, 2);
      dst[i] = bf16_to_f32(h);
    }
    return;
  }
  const BlockInfo bi = ggml_block_info(type);
  LMD_CHECK(n_elements % bi.block_elems == 0)
      << what << ": " << n_elements << " elements is not a whole number of " << ggml_type_name(type)
      << " blocks of " << bi.block_elems;
  const BlockFn fn = block_fn(type);
  const int64_t n_blocks = n_elements / bi.block_elems;
  for (int64_t i = 0; i < n_blocks; ++i) {
    fn(src + i * bi.block_bytes, dst + i * bi.block_elems);
  }
}

std::vector<float> dequantize_tensor(const GgufFile& f, const TensorInfo& t) {
  const std::string what = f.path() + ": tensor '" + t.name + "'";
  check_supported(t.type, what);  // before allocating: unknown types have no validated size
  std::vector<float> out(static_cast<size_t>(t.n_elements()));
  dequantize(t.type, f.tensor_data(t), out.data(), t.n_elements(), what);
  return out;
}

}  // namespace lmd::gguf
