#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "kernels/common/half.h"
#include "lite/awq_pack.h"
#include "lite/dataset.h"
#include "lite/lite_model.h"
#include "tests/test_util/random.h"

namespace lmd::lite {
namespace {

TEST(AwqPack, PackUnpackRoundTrips) {
  const int64_t out = 48, in = 96;
  const auto w = test_util::randn(out * in, 1, 0.05f);
  const QuantizedLinear ql = quantize_linear(w.data(), out, in, 32);
  const AwqPacked p = pack_awq(ql);
  ASSERT_EQ(p.qweight.size(), static_cast<size_t>(in * out / 8));
  ASSERT_EQ(p.qzeros.size(), static_cast<size_t>(in / 32 * out / 8));
  const QuantizedLinear back = unpack_awq(p, out, in, 32);
  EXPECT_EQ(back.q, ql.q);
  EXPECT_EQ(back.zeros, ql.zeros);
  EXPECT_EQ(back.scales, ql.scales);
}

TEST(AwqPack, NibbleOrderIsAutoAwqs) {
  // Column j of row 0 holds code j (0..7): the packed word must read nibbles 0,2,4,6,1,3,5,7.
  QuantizedLinear ql;
  ql.out = 8;
  ql.in = 2;
  ql.group = 2;
  ql.q = {0, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0};  // [out=8, in=2]
  ql.zeros.assign(8, 0);
  ql.scales.assign(8, f32_to_fp16(1.0f));
  const AwqPacked p = pack_awq(ql);
  EXPECT_EQ(static_cast<uint32_t>(p.qweight[0]), 0x75316420u);
  EXPECT_EQ(p.qweight[1], 0);
}

TEST(AwqPack, DequantisedWithinHalfAStep) {
  const int64_t out = 16, in = 128;
  const auto w = test_util::randn(out * in, 2, 0.05f);
  const QuantizedLinear ql = quantize_linear(w.data(), out, in, 64);
  const std::vector<float> d = ql.dequantize();
  for (int64_t r = 0; r < out; ++r)
    for (int64_t c = 0; c < in; ++c) {
      const float s = fp16_to_f32(ql.scales[r * 2 + c / 64]);
      EXPECT_LE(std::fabs(d[r * in + c] - w[r * in + c]), 0.5f * s * 1.01f + 1e-6f) << r << "," << c;
    }
  std::vector<float> f = w;
  fake_quantize(f.data(), out, in, 64);
  EXPECT_EQ(f, d);
}

TEST(AwqPack, GroupNotDividingFeaturesNamesTheShape) {
  const auto w = test_util::randn(8 * 576, 3, 0.05f);
  try {
    quantize_linear(w.data(), 8, 576, 128);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[8, 576]"), std::string::npos) << e.what();
  }
}

TEST(LiteDataset, WindowsAreSeededAndTooShortIsAnError) {
  std::vector<int32_t> stream(1000);
  for (int i = 0; i < 1000; ++i) stream[i] = i;
  const auto a = sample_windows(stream, 4, 100, 7, "t"), b = sample_windows(stream, 4, 100, 7, "t");
  EXPECT_EQ(a, b);
  ASSERT_EQ(a.size(), 4u);
  for (const auto& w : a) {
    ASSERT_EQ(w.size(), 100u);
    for (size_t i = 1; i < w.size(); ++i) EXPECT_EQ(w[i], w[i - 1] + 1);
  }
  EXPECT_THROW(sample_windows(stream, 1, 2000, 7, "t"), Error);
}

TEST(LiteQuantPolicy, NamesAndNumbers) {
  EXPECT_EQ(parse_quant_policy("0"), KvKind::kF16);
  EXPECT_EQ(parse_quant_policy("4"), KvKind::kInt8);
  EXPECT_EQ(parse_quant_policy("8"), KvKind::kInt8);
  EXPECT_EQ(parse_quant_policy("int8"), KvKind::kInt8);
  EXPECT_EQ(parse_quant_policy("int4"), KvKind::kInt4);
  EXPECT_THROW(parse_quant_policy("7"), Error);
}

}  // namespace
}  // namespace lmd::lite
