// Primitives of the llama.cpp numerics mode (src/backend/cpu/llamacpp_numerics.h) against
// straightforward formulas and their defining properties. Bit equality with llama.cpp itself
// is checked end to end by tests/python/test_greedy_parity.py.
#include "backend/cpu/llamacpp_numerics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "core/cpu_features.h"
#include "kernels/common/half.h"
#include "kernels/cpu/llamacpp_dot_impl.h"

namespace lmd::cpu::llamacpp {
namespace {

TEST(LlamacppNumerics, VexpfIsWithinTwoUlpOfExpAndHandlesRangeEnds) {
  for (float x = -87.0f; x < 88.0f; x += 0.01234f) {
    const double want = std::exp(static_cast<double>(x));
    const float got = vexpf(x);
    EXPECT_LE(std::fabs(got - want), 2.0 * want * std::numeric_limits<float>::epsilon()) << "x = " << x;
  }
  EXPECT_EQ(vexpf(0.0f), 1.0f);
  EXPECT_EQ(vexpf(-std::numeric_limits<float>::infinity()), 0.0f);
  EXPECT_EQ(vexpf(-200.0f), 0.0f);
  EXPECT_TRUE(std::isinf(vexpf(200.0f)));
}

TEST(LlamacppNumerics, VexpfDiffersFromLibmSomewhere) {
  // The point of emulating it: ggml's polynomial is not libm's correctly rounded expf.
  int differ = 0;
  for (float x = -10.0f; x < 10.0f; x += 0.001f) differ += vexpf(x) != std::exp(x);
  EXPECT_GT(differ, 100);
}

TEST(LlamacppNumerics, SiluMatchesFormula) {
  std::vector<float> g(37), u(37), out(37);
  for (int i = 0; i < 37; ++i) {
    g[i] = -9.0f + 0.5f * i;
    u[i] = 1.0f + 0.1f * i;
  }
  swiglu(g.data(), u.data(), 37, out.data());  // 32 vector lanes + a libm tail of 5
  for (int i = 0; i < 37; ++i) {
    const double want = g[i] / (1.0 + std::exp(-static_cast<double>(g[i]))) * u[i];
    EXPECT_NEAR(out[i], want, 1e-6 * std::fabs(want) + 1e-30) << i;
  }
}

TEST(LlamacppNumerics, ReduceAdd16UsesTheHalvingTree) {
  float v[16] = {};
  v[0] = 1e8f;
  v[8] = -1e8f;  // paired with v[0] first: cancels exactly
  v[1] = 1.0f;
  EXPECT_EQ(reduce_add16(v), 1.0f);
  // A left-to-right sum absorbs the 1 into 1e8 and loses it.
  float seq = 0.0f;
  float w[16] = {1e8f, 1.0f, 0, 0, 0, 0, 0, 0, -1e8f, 0, 0, 0, 0, 0, 0, 0};
  for (float x : w) seq += x;
  EXPECT_EQ(seq, 0.0f);
}

TEST(LlamacppNumerics, QuantizeQ8_1RoundsToNearestAndStoresFp16Scales) {
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 2.0f);
  std::vector<float> x(96);
  for (auto& v : x) v = nd(rng);
  for (int j = 0; j < 32; ++j) x[64 + j] = 0.0f;  // an all-zero block
  std::vector<int8_t> q(96);
  std::vector<uint16_t> d(3), s(3);
  quantize_row_q8_1(x.data(), 96, q.data(), d.data(), s.data());
  for (int b = 0; b < 2; ++b) {
    float amax = 0.0f;
    int sum = 0, max_q = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
    const float db = amax / 127.0f;
    EXPECT_EQ(d[b], f32_to_fp16(db));
    for (int j = 0; j < 32; ++j) {
      const int qi = q[b * 32 + j];
      sum += qi;
      max_q = std::max(max_q, std::abs(qi));
      EXPECT_LE(std::fabs(x[b * 32 + j] - qi * db), 0.5f * db * 1.0001f) << b << "," << j;
    }
    EXPECT_EQ(max_q, 127);
    EXPECT_EQ(s[b], f32_to_fp16(db * static_cast<float>(sum)));
  }
  EXPECT_EQ(d[2], 0);
  EXPECT_EQ(s[2], 0);
  for (int j = 64; j < 96; ++j) EXPECT_EQ(q[j], 0);
  std::vector<int8_t> q0(96);
  std::vector<uint16_t> d0(3);
  quantize_row_q8_0(x.data(), 96, q0.data(), d0.data());
  EXPECT_EQ(q0, q);
  EXPECT_EQ(d0, d);
}

// Packs int4 codes / (d, m) into the CPU layout (cpu_kernels.h PackedInt4).
struct Int4Row {
  std::vector<uint8_t> qs;
  std::vector<uint16_t> d, m;
  PackedInt4 packed(int64_t cols) const {
    return PackedInt4{1, cols, (cols + 63) / 64 * 64, qs.data(), d.data(), m.data()};
  }
};

TEST(LlamacppNumerics, DotQ4_1Q8_1ApproximatesTheDequantisedDot) {
  const int cols = 192, nb = cols / 32;
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> nib(0, 15);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  Int4Row w;
  w.qs.assign(cols / 2, 0);
  std::vector<int> codes(cols);
  for (int c = 0; c < cols; ++c) {
    codes[c] = nib(rng);
    const int sb = c / 64, j = c % 64;
    w.qs[sb * 32 + (j & 31)] |= static_cast<uint8_t>(j < 32 ? codes[c] : codes[c] << 4);
  }
  for (int b = 0; b < nb; ++b) {
    w.d.push_back(f32_to_fp16(0.01f + 0.003f * b));
    w.m.push_back(f32_to_fp16(-0.08f + 0.01f * b));
  }
  std::vector<float> x(cols);
  for (auto& v : x) v = nd(rng);
  std::vector<int8_t> q(cols);
  std::vector<uint16_t> d(nb), s(nb);
  quantize_row_q8_1(x.data(), cols, q.data(), d.data(), s.data());
  double want = 0.0, scale = 0.0;
  for (int c = 0; c < cols; ++c) {
    const double wv = codes[c] * fp16_to_f32(w.d[c / 32]) + fp16_to_f32(w.m[c / 32]);
    want += wv * x[c];
    scale += std::fabs(wv * x[c]);
  }
  const float got = vec_dot_q4_1_q8_1(w.packed(cols), 0, q.data(), d.data(), s.data());
  EXPECT_NEAR(got, want, 0.01 * scale);  // int8 activations + fp16 s: ~1% of Σ|w x|
  // And exactly the quantised dot when it is computed in double (only fp32 rounding differs).
  double quant = 0.0;
  for (int b = 0; b < nb; ++b) {
    int isum = 0;
    for (int j = 0; j < 32; ++j) isum += codes[b * 32 + j] * q[b * 32 + j];
    quant += static_cast<double>(fp16_to_f32(w.d[b]) * fp16_to_f32(d[b])) * isum +
             static_cast<double>(fp16_to_f32(w.m[b])) * fp16_to_f32(s[b]);
  }
  EXPECT_NEAR(got, quant, 1e-5 * scale);
}

TEST(LlamacppNumerics, DotF16IsTheExactDotUpToFloatRoundingAndZeroPaddingIsNeutral) {
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (int n : {64, 100, 256}) {
    std::vector<uint16_t> x(n), y(n);
    double want = 0.0;
    for (int i = 0; i < n; ++i) {
      x[i] = f32_to_fp16(nd(rng));
      y[i] = f32_to_fp16(nd(rng));
      want += static_cast<double>(fp16_to_f32(x[i])) * fp16_to_f32(y[i]);
    }
    EXPECT_NEAR(vec_dot_f16(x.data(), y.data(), n), want, 1e-5 * n) << n;
    if (n % 64 == 0) {
      std::vector<uint16_t> xp(x), yp(y);
      xp.resize(n + 64, 0);
      yp.resize(n + 64, 0);
      EXPECT_EQ(vec_dot_f16(xp.data(), yp.data(), n + 64), vec_dot_f16(x.data(), y.data(), n));
    }
  }
}

TEST(LlamacppNumerics, SoftMaxIsNormalisedAndZeroPastContext) {
  std::vector<float> kq = {3.0f, -1.0f, 0.5f, 10.0f, 2.0f, -30.0f, 7.0f, 1.0f, 0.0f, 4.0f,
                           -2.0f, 5.0f, 6.0f, 3.5f, 8.0f, 9.0f, -4.0f, 2.5f};
  const int ctx = static_cast<int>(kq.size());
  std::vector<float> p(32, -1.0f);
  soft_max(kq.data(), ctx, 32, 0.5f, p.data());
  double mx = -1e30, z = 0.0, total = 0.0;
  for (float v : kq) mx = std::max<double>(mx, 0.5 * v);
  for (float v : kq) z += std::exp(0.5 * v - mx);
  for (int i = 0; i < ctx; ++i) {
    EXPECT_NEAR(p[i], std::exp(0.5 * kq[i] - mx) / z, 1e-6) << i;
    total += p[i];
  }
  for (int i = ctx; i < 32; ++i) EXPECT_EQ(p[i], 0.0f) << i;
  EXPECT_NEAR(total, 1.0, 1e-6);
}

TEST(LlamacppNumerics, AttendOnePositionReturnsItsValueRow) {
  const int hd = 64;
  std::vector<uint16_t> k(hd), v(hd);
  std::vector<float> q(hd), out(hd), scratch(attend_scratch_floats(1, hd));
  for (int i = 0; i < hd; ++i) {
    k[i] = f32_to_fp16(0.1f * i);
    v[i] = f32_to_fp16(-1.0f + 0.03f * i);
    q[i] = 0.2f - 0.01f * i;
  }
  attend_head(q.data(), k.data(), v.data(), 1, hd, hd, 0.125f, scratch.data(), out.data());
  for (int i = 0; i < hd; ++i) EXPECT_EQ(out[i], fp16_to_f32(v[i])) << i;  // p = 1 exactly
}

TEST(LlamacppNumerics, RopeCacheFollowsThePositionTimesPowerLaw) {
  float c[32], s[32];
  rope_cache(0, 100000.0f, 64, c, s);
  for (int j = 0; j < 32; ++j) {
    EXPECT_EQ(c[j], 1.0f);
    EXPECT_EQ(s[j], 0.0f);
  }
  rope_cache(37, 100000.0f, 64, c, s);
  for (int j = 0; j < 32; ++j) {
    const double angle = 37.0 * std::pow(100000.0, -2.0 * j / 64);
    EXPECT_NEAR(c[j], std::cos(angle), 2e-5) << j;  // theta accumulates fp32 products
    EXPECT_NEAR(s[j], std::sin(angle), 2e-5) << j;
  }
  float y0 = 0, y1 = 0;
  rope_pair(1.0f, 2.0f, 0.6f, 0.8f, &y0, &y1);
  EXPECT_NEAR(y0, 1.0f * 0.6f - 2.0f * 0.8f, 1e-6);
  EXPECT_NEAR(y1, 1.0f * 0.8f + 2.0f * 0.6f, 1e-6);
}

TEST(LlamacppNumerics, Avx2DotsGiveTheSameBitsAsThePortableOnes) {
  if (detected_cpu_isa() < CpuIsa::kAvx2) GTEST_SKIP() << "this CPU has no AVX2: nothing to compare";
  const int64_t rows = 64, cols = 576, cp = 576, nb = cols / 32;
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> byte(0, 255), i8(-128, 127);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<uint8_t> q4(rows * cp / 2);
  std::vector<int8_t> q8(rows * cp);
  std::vector<uint16_t> wd(rows * nb), wm(rows * nb);
  for (auto& v : q4) v = static_cast<uint8_t>(byte(rng));
  for (auto& v : q8) v = static_cast<int8_t>(i8(rng));  // includes -128
  for (auto& v : wd) v = f32_to_fp16(0.02f * nd(rng));
  for (auto& v : wm) v = f32_to_fp16(0.1f * nd(rng));
  const PackedInt4 w4{rows, cols, cp, q4.data(), wd.data(), wm.data()};
  const PackedInt8 w8{rows, cols, cp, q8.data(), wd.data()};
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<float> x(cols);
    for (auto& v : x) v = nd(rng) * (trial % 3 == 0 ? 100.0f : 1.0f);
    std::vector<int8_t> q(cols);
    std::vector<uint16_t> d(nb), s(nb);
    quantize_row_q8_1(x.data(), cols, q.data(), d.data(), s.data());
    for (int64_t r = 0; r < rows; ++r) {
      const float a4 = dot_q4_1_q8_1_avx2(w4, r, q.data(), d.data(), s.data());
      const float p4 = dot_impl::dot_q4_1_q8_1(w4, r, q.data(), d.data(), s.data());
      const float a8 = dot_q8_0_q8_0_avx2(w8, r, q.data(), d.data());
      const float p8 = dot_impl::dot_q8_0_q8_0(w8, r, q.data(), d.data());
      ASSERT_EQ(f32_bits(a4), f32_bits(p4)) << "q4_1 row " << r << " trial " << trial;
      ASSERT_EQ(f32_bits(a8), f32_bits(p8)) << "q8_0 row " << r << " trial " << trial;
    }
  }
}

}  // namespace
}  // namespace lmd::cpu::llamacpp
