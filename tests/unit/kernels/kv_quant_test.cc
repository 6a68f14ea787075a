// KV quantisation math (kernels/common/kv_quant.h) and int4 nibble helpers.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/common/int4.h"
#include "kernels/common/kv_quant.h"
#include "tests/test_util/random.h"

namespace lmd {
namespace {

std::vector<float> randn(int n, uint32_t seed) { return test_util::randn(static_cast<size_t>(n), seed, 2.0f); }

TEST(KvQuant, Int8RoundTripWithinHalfStep) {
  const std::vector<float> x = randn(64, 1);
  std::vector<uint8_t> q(64);
  const KvQuantParams p = kv_quantize_row_int8(x.data(), 64, q.data());
  const float lo = *std::min_element(x.begin(), x.end()), hi = *std::max_element(x.begin(), x.end());
  EXPECT_EQ(p.zero, lo);
  EXPECT_EQ(p.scale, (hi - lo) / 255.0f);
  std::vector<float> y(64);
  kv_dequantize_row_int8(q.data(), 64, p, y.data());
  for (int i = 0; i < 64; ++i) EXPECT_LE(std::fabs(y[i] - x[i]), 0.5f * p.scale * 1.001f) << i;
  EXPECT_EQ(*std::min_element(q.begin(), q.end()), 0);
  EXPECT_EQ(*std::max_element(q.begin(), q.end()), 255);
}

TEST(KvQuant, Int4RoundTripAndPacking) {
  const std::vector<float> x = randn(32, 2);
  std::vector<uint8_t> q(16);
  const KvQuantParams p = kv_quantize_row_int4(x.data(), 32, q.data());
  EXPECT_EQ(p.scale, (*std::max_element(x.begin(), x.end()) - p.zero) / 15.0f);
  std::vector<float> y(32);
  kv_dequantize_row_int4(q.data(), 32, p, y.data());
  for (int i = 0; i < 32; ++i) {
    EXPECT_LE(std::fabs(y[i] - x[i]), 0.5f * p.scale * 1.001f) << i;
    // low nibble = even element
    EXPECT_EQ(int4_get(q.data(), i), kv_quantize_value(x[i], p.zero, kv_inv_scale(p.scale), 15)) << i;
  }
}

TEST(KvQuant, RoundsHalfToEven) {
  // scale 1, zero 0: 2.5 -> 2, 3.5 -> 4
  EXPECT_EQ(kv_quantize_value(2.5f, 0.0f, 1.0f, 255), 2);
  EXPECT_EQ(kv_quantize_value(3.5f, 0.0f, 1.0f, 255), 4);
  EXPECT_EQ(kv_quantize_value(-3.0f, 0.0f, 1.0f, 255), 0);   // clamped
  EXPECT_EQ(kv_quantize_value(300.0f, 0.0f, 1.0f, 255), 255);
}

TEST(KvQuant, ConstantRowIsExact) {
  std::vector<float> x(16, 1.25f), y(16);
  std::vector<uint8_t> q(16);
  const KvQuantParams p = kv_quantize_row_int8(x.data(), 16, q.data());
  EXPECT_EQ(p.scale, 0.0f);
  kv_dequantize_row_int8(q.data(), 16, p, y.data());
  EXPECT_EQ(x, y);
}

TEST(KvQuant, StaticInt8Form) {
  // q = rint((x - zp) / scale) clamped to int8; exact binary values make the ties visible.
  const float scale = 0.5f, zp = 1.0f;
  EXPECT_EQ(kv_quantize_static_int8(2.25f, scale, zp), 2);    // 2.5 -> 2 (half to even)
  EXPECT_EQ(kv_quantize_static_int8(2.75f, scale, zp), 4);    // 3.5 -> 4
  EXPECT_EQ(kv_quantize_static_int8(100.0f, scale, zp), 127); // clamped
  EXPECT_EQ(kv_quantize_static_int8(-100.0f, scale, zp), -128);
  EXPECT_EQ(kv_dequantize_static_int8(-3, scale, zp), -0.5f);
  const float f = 1.234f;
  EXPECT_NEAR(kv_dequantize_static_int8(kv_quantize_static_int8(f, scale, zp), scale, zp), f, scale / 2);
}

TEST(Int4, SetGetRoundTrip) {
  std::vector<uint8_t> p(4, 0);
  for (int i = 0; i < 8; ++i) int4_set(p.data(), i, (i * 5) & 15);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(int4_get(p.data(), i), (i * 5) & 15);
  EXPECT_EQ(p[0], 0x50);
  EXPECT_EQ(int4_dequant(3, 0.5f, -1.0f), 0.5f);
}

}  // namespace
}  // namespace lmd
