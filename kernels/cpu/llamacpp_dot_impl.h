// Portable bodies of the llama.cpp-numerics quantised dots (see src/backend/cpu/llamacpp_numerics.h)
// and the declarations of their AVX2 versions (kernels/cpu/llamacpp_avx2.cc), which must give
// the same bits. Internal linkage: each including translation unit keeps its own copy.
// They read PackLayout::kRows only (the backend never packs kRows16 in llama.cpp numerics mode).
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/common/half.h"
#include "kernels/cpu/cpu_kernels.h"

namespace lmd::cpu::llamacpp {
namespace dot_impl {

// Throws lmd::Error unless l is PackLayout::kRows. Out of line (llamacpp_dot_impl.cc, built
// without -m flags) so that llamacpp_avx2.cc emits no weak copy of lmd::Error's inline
// members built with -mavx2, which the linker could keep for every caller.
void check_rows_layout(PackLayout l);

namespace {

// hsum_float_8: (4+4), then (0+2) and (1+3), then their sum.
inline float hsum8(const float* a) {
  float r4[4];
  for (int i = 0; i < 4; ++i) r4[i] = a[4 + i] + a[i];
  return (r4[0] + r4[2]) + (r4[1] + r4[3]);
}

inline float dot_q4_1_q8_1(const PackedInt4& w, int64_t r, const int8_t* q, const uint16_t* d, const uint16_t* s) {
  const int64_t nblk_w = w.cols_padded / kBlock, nb = w.cols / kBlock;
  check_rows_layout(w.layout);
  const uint8_t* qs = w.qs + r * (w.cols_padded / 2);
  const uint16_t* wd = w.d + r * nblk_w;
  const uint16_t* wm = w.m + r * nblk_w;
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  float summs = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    const float d0 = fp16_to_f32(wd[b]), d1 = fp16_to_f32(d[b]);
    summs = std::fma(fp16_to_f32(wm[b]), fp16_to_f32(s[b]), summs);  // contracted by the compiler in ggml
    const float d0d1 = d0 * d1;
    const uint8_t* p = qs + (b / 2) * 32;  // packed super-block; odd blocks in the high nibbles
    const int shift = (b & 1) * 4;
    const int8_t* xq = q + b * kBlock;
    for (int j = 0; j < 8; ++j) {
      int lane = 0;
      for (int e = 4 * j; e < 4 * j + 4; ++e) lane += ((p[e] >> shift) & 15) * xq[e];
      acc[j] = std::fma(d0d1, static_cast<float>(lane), acc[j]);
    }
  }
  return hsum8(acc) + summs;
}

inline float dot_q8_0_q8_0(const PackedInt8& w, int64_t r, const int8_t* q, const uint16_t* d) {
  const int64_t nblk_w = w.cols_padded / kBlock, nb = w.cols / kBlock;
  check_rows_layout(w.layout);
  const int8_t* qs = w.qs + r * w.cols_padded;
  const uint16_t* wd = w.d + r * nblk_w;
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int64_t b = 0; b < nb; ++b) {
    const float sc = fp16_to_f32(wd[b]) * fp16_to_f32(d[b]);
    const int8_t* wq = qs + b * kBlock;
    const int8_t* xq = q + b * kBlock;
    for (int j = 0; j < 8; ++j) {
      int lane = 0;
      for (int e = 4 * j; e < 4 * j + 4; ++e) lane += wq[e] * xq[e];
      acc[j] = std::fma(sc, static_cast<float>(lane), acc[j]);
    }
  }
  return hsum8(acc);
}

}  // namespace
}  // namespace dot_impl

// AVX2 versions (kernels/cpu/llamacpp_avx2.cc); call only when cpu_isa() >= kAvx2.
float dot_q4_1_q8_1_avx2(const PackedInt4& w, int64_t r, const int8_t* q, const uint16_t* d, const uint16_t* s);
float dot_q8_0_q8_0_avx2(const PackedInt8& w, int64_t r, const int8_t* q, const uint16_t* d);

}  // namespace lmd::cpu::llamacpp
