// The tensor-core W4A16 GEMM (kernels/cuda/w4a16_gemm.cuh) under the shim, every schedule,
// against a double-precision reference over the dequantised weights (w = q * scale + min in
// fp32, core/weights.h) with the activations rounded to f16 as the kernel stages them.
// Tolerance per output: 2^-10 * Σ_c |w(r, c) x(t, c)| + 1e-6 * (|old y| + |bias|). Why: the
// kernel rounds each dequantised weight to f16 (relative error <= 2^-11 per product), the
// tensor-core products are exact in fp32 and the fp32 sums over K <= 384 terms add at most
// K * 2^-24 ≈ 2.3e-5 relative; 2^-10 covers both with a 2x margin, and is ~40x smaller than
// the error of a single wrongly placed nibble. The repacking is checked bit-exact.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/common/half.h"
#include "kernels/cuda/w4a16_gemm.cuh"
#include "tests/cuda/schedules.h"
#include "tests/test_util/random.h"

namespace lmd::cuda_test {
namespace {

struct Int4 {
  int rows, cols, group;
  std::vector<uint8_t> nibbles;     // weights.h layout
  std::vector<uint16_t> scale_min;  // fp16 (scale, min) [rows, cols / group, 2]
  float at(int r, int c) const {
    const int64_t i = static_cast<int64_t>(r) * cols + c;
    const int q = (nibbles[i / 2] >> (4 * (i % 2))) & 15;
    const int64_t g = static_cast<int64_t>(r) * (cols / group) + c / group;
    return static_cast<float>(q) * fp16_to_f32(scale_min[2 * g]) + fp16_to_f32(scale_min[2 * g + 1]);
  }
};

Int4 random_int4(int rows, int cols, int group, uint32_t seed) {
  std::mt19937 rng(seed);
  Int4 w{rows, cols, group, std::vector<uint8_t>(static_cast<size_t>(rows) * cols / 2), {}};
  for (auto& b : w.nibbles) b = static_cast<uint8_t>(rng());
  for (int64_t g = 0; g < static_cast<int64_t>(rows) * cols / group; ++g) {
    const float d = 0.01f + 0.001f * static_cast<float>(rng() % 50);
    w.scale_min.push_back(f32_to_fp16(d));
    w.scale_min.push_back(f32_to_fp16(-(7.0f + 0.1f * static_cast<float>(rng() % 10)) * d));
  }
  return w;
}

using test_util::randn;

TEST(CudaW4a16Gemm, RepackRoundTripIsBitExact) {
  for (int rows : {8, 37, 130}) {
    for (int cols : {32, 160, 256}) {
      const Int4 w = random_int4(rows, cols, 32, static_cast<uint32_t>(rows * 1000 + cols));
      const std::vector<uint32_t> packed = cuda::w4_repack(w.nibbles.data(), rows, cols);
      ASSERT_EQ(static_cast<int64_t>(packed.size()), (rows + 7) / 8 * (cols / 32) * 32);
      EXPECT_EQ(cuda::w4_unpack(packed.data(), rows, cols), w.nibbles) << rows << "x" << cols;
      // Lane (g, t) of tile (nt, kb), nibble j holds w(nt*8 + g, kb*32 + w4_packed_col(j, t)):
      // spot-check the documented formula directly (not through w4_unpack).
      const int nt = (rows - 1) / 8, kb = cols / 32 - 1, g = (rows - 1) % 8, t = 3, j = 6;
      const uint32_t word = packed[(static_cast<size_t>(nt) * (cols / 32) + kb) * 32 + 4 * g + t];
      const int64_t i = static_cast<int64_t>(nt * 8 + g) * cols + kb * 32 + cuda::w4_packed_col(j, t);
      EXPECT_EQ((word >> (4 * j)) & 15u, static_cast<uint32_t>((w.nibbles[i / 2] >> (4 * (i % 2))) & 15));
      // Padded rows of the last tile hold code 0.
      if (rows % 8 != 0) {
        EXPECT_EQ(packed[(static_cast<size_t>(nt) * (cols / 32)) * 32 + 31], 0u);
      }
    }
  }
  std::vector<uint8_t> odd(8 * 48 / 2);
  EXPECT_THROW(cuda::w4_repack(odd.data(), 8, 48), Error);  // cols not a multiple of 32
}

template <typename T>
T from_float_host(float v);
template <>
float from_float_host<float>(float v) {
  return v;
}
template <>
__half from_float_host<__half>(float v) {
  return __float2half_rn(v);
}

template <typename T>
void run_case(int m, int rows, int cols, int group, bool with_bias, bool accumulate, uint32_t seed) {
  SCOPED_TRACE("m " + std::to_string(m) + " rows " + std::to_string(rows) + " cols " + std::to_string(cols) +
               " group " + std::to_string(group) + (with_bias ? " bias" : "") + (accumulate ? " accumulate" : ""));
  const Int4 w = random_int4(rows, cols, group, seed);
  std::vector<uint32_t> packed = cuda::w4_repack(w.nibbles.data(), rows, cols);
  std::vector<uint16_t> sm = w.scale_min;
  const std::vector<float> xf = randn(static_cast<size_t>(m) * cols, seed + 1);
  std::vector<T> x(xf.size());
  std::vector<float> xh(xf.size());  // the activations as the kernel sees them (f16)
  for (size_t i = 0; i < xf.size(); ++i) {
    x[i] = from_float_host<T>(xf[i]);
    xh[i] = fp16_to_f32(f32_to_fp16(xf[i]));
  }
  std::vector<float> bias = randn(rows, seed + 2);
  const int ldy = rows + 5;  // a strided output, as the backend's fused outputs are
  const std::vector<float> y0 = randn(static_cast<size_t>(m) * ldy, seed + 3);
  std::vector<double> ref(static_cast<size_t>(m) * rows), bound(ref.size());
  for (int t = 0; t < m; ++t) {
    for (int r = 0; r < rows; ++r) {
      double s = 0.0, mag = 0.0;
      for (int c = 0; c < cols; ++c) {
        const double p = static_cast<double>(w.at(r, c)) * xh[static_cast<size_t>(t) * cols + c];
        s += p;
        mag += std::fabs(p);
      }
      const double old = accumulate ? y0[static_cast<size_t>(t) * ldy + r] : 0.0;
      const double b = with_bias ? bias[r] : 0.0;
      ref[static_cast<size_t>(t) * rows + r] = old + s + b;
      bound[static_cast<size_t>(t) * rows + r] = std::ldexp(mag, -10) + 1e-6 * (std::fabs(old) + std::fabs(b));
    }
  }
  for_each_schedule([&] {
    std::vector<float> y = y0;
    const cuda::W4Packed wp{packed.data(), sm.data(), rows, cols, group};
    cuda::w4a16_gemm<T>(wp, x.data(), m, with_bias ? bias.data() : nullptr, y.data(), ldy, accumulate);
    int bad = 0;
    for (int t = 0; t < m; ++t) {
      for (int r = 0; r < ldy; ++r) {
        const size_t i = static_cast<size_t>(t) * ldy + r;
        if (r >= rows) {  // the stride's gap is untouched
          ASSERT_EQ(y[i], y0[i]) << "t " << t << " wrote column " << r;
          continue;
        }
        const size_t k = static_cast<size_t>(t) * rows + r;
        if (!(std::fabs(y[i] - ref[k]) <= bound[k]) && bad++ < 3)
          ADD_FAILURE() << "t " << t << " r " << r << ": " << y[i] << " vs " << ref[k] << " (bound " << bound[k]
                        << ")";
      }
    }
    ASSERT_EQ(bad, 0);
  });
}

// Partial tiles: m 16 / 17 / 40 (one and two 32-token tiles), rows 70 / 200 (not multiples of
// 8 or of the 128-row CTA tile), cols 160 / 192 (not multiples of 128) and 256.
TEST(CudaW4a16Gemm, MatchesReferenceGroup32) {
  for (int m : {16, 17, 40}) run_case<float>(m, 70, 160, 32, false, false, 10 + m);
  run_case<float>(40, 200, 160, 32, true, true, 7);
}

TEST(CudaW4a16Gemm, MatchesReferenceGroup64) {
  for (int m : {16, 17, 40}) run_case<float>(m, 200, 192, 64, m == 17, m == 40, 20 + m);
}

TEST(CudaW4a16Gemm, MatchesReferenceGroup128) {
  for (int m : {16, 17, 40}) run_case<float>(m, 70, 256, 128, m != 16, m != 17, 30 + m);
}

TEST(CudaW4a16Gemm, HalfActivations) { run_case<__half>(17, 70, 192, 64, true, true, 40); }

TEST(CudaW4a16Gemm, RejectsUnsupportedGroups) {
  std::vector<uint32_t> packed(32);
  std::vector<uint16_t> sm(2);
  std::vector<float> x(16 * 32), y(16 * 8);
  EXPECT_THROW(cuda::w4a16_gemm<float>(cuda::W4Packed{packed.data(), sm.data(), 8, 32, 16}, x.data(), 16, nullptr,
                                       y.data(), 8, false),
               Error);
}

}  // namespace
}  // namespace lmd::cuda_test
