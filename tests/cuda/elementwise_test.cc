// RMSNorm (+residual), SiLU*mul, embedding gather and W4A16 GEMV under the shim, in every
// schedule, against scalar references written here (double accumulation). Shapes leave
// partial tiles (dims not multiples of the block, token counts not multiples of 4).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/common/half.h"
#include "kernels/cuda/embedding.cuh"
#include "kernels/cuda/rms_norm.cuh"
#include "kernels/cuda/silu_mul.cuh"
#include "kernels/cuda/w4a16_gemv.cuh"
#include "tests/cuda/schedules.h"
#include "tests/test_util/random.h"

namespace lmd::cuda_test {
namespace {

template <typename T>
std::vector<T> convert(const std::vector<float>& v) {
  std::vector<T> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = cuda::from_float<T>(v[i]);
  return out;
}

template <typename T>
void check_rms_norm(float rel_tol) {
  const int n = 3, dim = 1000;
  const float eps = 1e-5f;
  const std::vector<float> xf = test_util::uniform(n * dim, 1, -2.0f, 2.0f),
                           rf = test_util::uniform(n * dim, 2, -2.0f, 2.0f),
                           wf = test_util::uniform(dim, 3, -2.0f, 2.0f);
  for (bool with_residual : {false, true}) {
    for_each_schedule([&] {
      std::vector<T> x = convert<T>(xf), res = convert<T>(rf), w = convert<T>(wf), out(n * dim);
      cuda::rms_norm(x.data(), with_residual ? res.data() : nullptr, w.data(), n, dim, eps, out.data());
      for (int t = 0; t < n; ++t) {
        std::vector<double> v(dim);
        double ss = 0;
        for (int i = 0; i < dim; ++i) {
          float s = cuda::to_float(convert<T>({xf[t * dim + i]})[0]);
          if (with_residual) s = cuda::to_float(cuda::from_float<T>(s + cuda::to_float(convert<T>({rf[t * dim + i]})[0])));
          v[i] = s;
          ss += v[i] * v[i];
          if (with_residual) {
            ASSERT_EQ(cuda::to_float(x[t * dim + i]), s) << "residual sum t " << t << " i " << i;
          }
        }
        const double inv = 1.0 / std::sqrt(ss / dim + eps);
        for (int i = 0; i < dim; ++i) {
          const double ref = v[i] * inv * cuda::to_float(w[i]);
          ASSERT_NEAR(cuda::to_float(out[t * dim + i]), ref, rel_tol * (std::fabs(ref) + 1e-2)) << "t " << t << " i " << i;
        }
      }
    });
  }
}

// Tolerances: fp32 math vs double; fp16 / bf16 add one output rounding (2^-11, 2^-8).
TEST(CudaKernels, RmsNormF32) { check_rms_norm<float>(1e-5f); }
TEST(CudaKernels, RmsNormF16) { check_rms_norm<__half>(2e-3f); }
TEST(CudaKernels, RmsNormBf16) { check_rms_norm<__nv_bfloat16>(1e-2f); }

TEST(CudaKernels, SiluMul) {
  const int64_t count = 1000;  // not a multiple of the 256-thread block
  const std::vector<float> g = test_util::uniform(count, 4, -8.0f, 8.0f), u = test_util::uniform(count, 5, -2.0f, 2.0f);
  for_each_schedule([&] {
    std::vector<float> out(count);
    cuda::silu_mul(g.data(), u.data(), count, out.data());
    for (int64_t i = 0; i < count; ++i) {
      const double ref = g[i] / (1.0 + std::exp(-static_cast<double>(g[i]))) * u[i];
      ASSERT_NEAR(out[i], ref, 1e-6 * (std::fabs(ref) + 1.0)) << i;
    }
  });
}

TEST(CudaKernels, EmbeddingDenseIsExact) {
  const int vocab = 50, dim = 200;
  const std::vector<float> table = test_util::uniform(vocab * dim, 6, -2.0f, 2.0f);
  const std::vector<__half> table_h = convert<__half>(table);
  std::vector<int32_t> tokens = {7, 0, 49, 7, 13};
  for_each_schedule([&] {
    std::vector<float> out(tokens.size() * dim), out_h(tokens.size() * dim);
    cuda::embedding(table.data(), tokens.data(), static_cast<int>(tokens.size()), dim, out.data());
    cuda::embedding(table_h.data(), tokens.data(), static_cast<int>(tokens.size()), dim, out_h.data());
    for (size_t t = 0; t < tokens.size(); ++t) {
      for (int i = 0; i < dim; ++i) {
        ASSERT_EQ(out[t * dim + i], table[tokens[t] * dim + i]);
        ASSERT_EQ(out_h[t * dim + i], __half2float(table_h[tokens[t] * dim + i]));
      }
    }
  });
}

// Random int4 weights in the canonical layout (core/weights.h).
struct Int4Weights {
  int rows, cols, group;
  std::vector<uint8_t> nibbles;
  std::vector<uint16_t> scale_min;
  float at(int r, int c) const {
    const int g = c / group;
    const size_t sg = (static_cast<size_t>(r) * (cols / group) + g) * 2;
    return int4_dequant(int4_get(nibbles.data(), static_cast<int64_t>(r) * cols + c), fp16_to_f32(scale_min[sg]),
                        fp16_to_f32(scale_min[sg + 1]));
  }
};

Int4Weights random_int4(int rows, int cols, int group, uint32_t seed) {
  std::mt19937 rng(seed);
  Int4Weights w{rows, cols, group, std::vector<uint8_t>(static_cast<size_t>(rows) * cols / 2),
                std::vector<uint16_t>(static_cast<size_t>(rows) * (cols / group) * 2)};
  for (uint8_t& b : w.nibbles) b = static_cast<uint8_t>(rng());
  std::uniform_real_distribution<float> s(0.001f, 0.05f), m(-0.4f, 0.0f);
  for (size_t i = 0; i < w.scale_min.size(); i += 2) {
    w.scale_min[i] = f32_to_fp16(s(rng));
    w.scale_min[i + 1] = f32_to_fp16(m(rng));
  }
  return w;
}

TEST(CudaKernels, EmbeddingInt4IsExact) {
  const Int4Weights w = random_int4(40, 192, 64, 7);
  std::vector<int32_t> tokens = {39, 1, 1, 20};
  for_each_schedule([&] {
    std::vector<float> out(tokens.size() * w.cols);
    cuda::embedding_int4(w.nibbles.data(), w.scale_min.data(), tokens.data(), static_cast<int>(tokens.size()), w.cols,
                         w.group, out.data());
    for (size_t t = 0; t < tokens.size(); ++t)
      for (int c = 0; c < w.cols; ++c) ASSERT_EQ(out[t * w.cols + c], w.at(tokens[t], c));
  });
}

template <typename T>
void check_w4a16(int group, double tol, int n);

template <typename T>
void check_w4a16(int group, double tol) {
  // n = 3: the 4-token kernel, partial; 6 and 19: the 8-token kernel, partial tiles
  for (int n : {3, 6, 19}) check_w4a16<T>(group, tol, n);
}

template <typename T>
void check_w4a16(int group, double tol, int n) {
  SCOPED_TRACE("n = " + std::to_string(n));
  const int rows = 37, cols = 384;  // partial row tile (37 % 4)
  const Int4Weights w = random_int4(rows, cols, group, 100 + group);
  const std::vector<float> xf = test_util::uniform(static_cast<size_t>(n) * cols, 8, -2.0f, 2.0f);
  const std::vector<T> x = convert<T>(xf);
  const std::vector<float> bias = test_util::uniform(rows, 9, -2.0f, 2.0f);
  const cuda::W4Matrix m{w.nibbles.data(), w.scale_min.data(), rows, cols, group};
  for (bool accumulate : {false, true}) {
    for_each_schedule([&] {
      const int ldy = rows + 3;
      std::vector<float> y(static_cast<size_t>(n) * ldy, 0.5f);
      cuda::w4a16_gemv(m, x.data(), n, bias.data(), y.data(), ldy, accumulate);
      for (int t = 0; t < n; ++t) {
        for (int r = 0; r < rows; ++r) {
          double ref = (accumulate ? 0.5 : 0.0) + bias[r], mag = std::fabs(ref);
          for (int c = 0; c < cols; ++c) {
            const double p = static_cast<double>(w.at(r, c)) * cuda::to_float(x[t * cols + c]);
            ref += p;
            mag += std::fabs(p);
          }
          ASSERT_NEAR(y[t * ldy + r], ref, tol * mag) << "t " << t << " r " << r;
        }
        for (int r = rows; r < ldy; ++r) ASSERT_EQ(y[t * ldy + r], 0.5f) << "wrote past rows";
      }
    });
  }
}

// fp32 accumulation of exactly dequantised products: relative to Σ|w x|.
TEST(CudaKernels, W4A16GemvGroup32) { check_w4a16<float>(32, 1e-6); }
TEST(CudaKernels, W4A16GemvGroup64) { check_w4a16<float>(64, 1e-6); }
TEST(CudaKernels, W4A16GemvGroup128) { check_w4a16<float>(128, 1e-6); }
TEST(CudaKernels, W4A16GemvHalfActivations) { check_w4a16<__half>(128, 1e-6); }

}  // namespace
}  // namespace lmd::cuda_test
