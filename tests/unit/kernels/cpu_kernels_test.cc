// Every SIMD kernel variant available on this machine vs the scalar reference.
// Quantisation and conversion kernels must be bit-exact; float reductions agree within
// a stated relative tolerance (they only differ in summation order).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/cpu_features.h"
#include "core/error.h"
#include "kernels/common/half.h"
#include "kernels/cpu/cpu_kernels.h"
#include "tests/test_util/random.h"

namespace lmd::cpu {
namespace {

std::vector<CpuIsa> fast_isas() {
  std::vector<CpuIsa> v;
  if (detected_cpu_isa() >= CpuIsa::kAvx2) v.push_back(CpuIsa::kAvx2);
  if (detected_cpu_isa() >= CpuIsa::kAvx512) v.push_back(CpuIsa::kAvx512);
  return v;
}

using test_util::randn;

// Packed int4 / int8 weights with random codes and scales, in cpu_kernels.h's layout.
struct Int4Storage {
  std::vector<uint8_t> qs;
  std::vector<uint16_t> d, m;
  PackedInt4 w;
  Int4Storage(int64_t rows, int64_t cols, uint32_t seed) {
    std::mt19937 rng(seed);
    const int64_t cp = pad_cols(cols), nblk = cp / kBlock;
    qs.assign(rows * cp / 2, 0);
    d.assign(rows * nblk, 0);
    m.assign(rows * nblk, 0);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) {
        const int q = static_cast<int>(rng() % 16);
        const int64_t sb = c / 64, j = c % 64;
        qs[r * cp / 2 + sb * 32 + (j & 31)] |= static_cast<uint8_t>(j < 32 ? q : q << 4);
      }
      for (int64_t b = 0; b * kBlock < cols; ++b) {
        d[r * nblk + b] = f32_to_fp16(0.01f + 0.02f * static_cast<float>(rng() % 100) / 100.0f);
        m[r * nblk + b] = f32_to_fp16(-0.1f * static_cast<float>(rng() % 100) / 100.0f);
      }
    }
    w = PackedInt4{rows, cols, cp, qs.data(), d.data(), m.data()};
  }
};

struct Int8Storage {
  std::vector<int8_t> qs;
  std::vector<uint16_t> d;
  PackedInt8 w;
  Int8Storage(int64_t rows, int64_t cols, uint32_t seed) {
    std::mt19937 rng(seed);
    const int64_t cp = pad_cols(cols), nblk = cp / kBlock;
    qs.assign(rows * cp, 0);
    d.assign(rows * nblk, 0);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) qs[r * cp + c] = static_cast<int8_t>(static_cast<int>(rng() % 256) - 128);
      for (int64_t b = 0; b * kBlock < cols; ++b) d[r * nblk + b] = f32_to_fp16(0.001f * (1 + rng() % 50));
    }
    w = PackedInt8{rows, cols, cp, qs.data(), d.data()};
  }
};

struct Acts {
  std::vector<int8_t> q;
  std::vector<float> d, s;
  QuantActs a;
  Acts(const Kernels& k, const std::vector<float>& x, int64_t n, int64_t cols) {
    const int64_t cp = pad_cols(cols), nblk = cp / kBlock;
    q.assign(n * cp, 0);
    d.assign(n * nblk, 0);
    s.assign(n * nblk, 0);
    for (int64_t t = 0; t < n; ++t)
      k.quantize_row_q8(x.data() + t * cols, cols, cp, q.data() + t * cp, d.data() + t * nblk, s.data() + t * nblk);
    a = QuantActs{n, cp, q.data(), d.data(), s.data()};
  }
};

float max_abs(const std::vector<float>& v) {
  float m = 0;
  for (float x : v) m = std::max(m, std::fabs(x));
  return m;
}

TEST(CpuKernels, QuantizeRowQ8IsBitExact) {
  for (CpuIsa isa : fast_isas()) {
    for (int64_t cols : {32, 64, 100, 576, 1536}) {
      std::vector<float> x = randn(cols, 7 + cols, 3.0f);
      x[3] = 0.5f;  // a tie case after scaling is unlikely; cover zeros too
      if (cols >= 64) std::fill(x.begin() + 32, x.begin() + 64, 0.0f);
      const Acts ref(reference_kernels(), x, 1, cols), got(kernels_for(isa), x, 1, cols);
      EXPECT_EQ(ref.q, got.q) << cpu_isa_name(isa) << " cols " << cols;
      EXPECT_EQ(ref.d, got.d) << cpu_isa_name(isa) << " cols " << cols;
      EXPECT_EQ(ref.s, got.s) << cpu_isa_name(isa) << " cols " << cols;
    }
  }
}

TEST(CpuKernels, QuantizeRowQ8RoundTrip) {
  const std::vector<float> x = randn(96, 3);
  const Acts a(reference_kernels(), x, 1, 96);
  for (int c = 0; c < 96; ++c) {
    const float d = a.d[c / 32];
    EXPECT_LE(std::fabs(a.q[c] * d - x[c]), 0.5f * d * 1.0001f) << c;
  }
}

TEST(CpuKernels, GemmQ4Q8MatchesReference) {
  for (CpuIsa isa : fast_isas()) {
    for (int64_t cols : {64, 96, 576}) {
      for (int64_t n : {1, 3, 4, 9}) {
        const int64_t rows = 37;
        const Int4Storage w(rows, cols, 11);
        const std::vector<float> x = randn(n * cols, 5);
        const Acts a(reference_kernels(), x, n, cols);
        std::vector<float> ref(n * rows), got(n * rows, -1.0f);
        reference_kernels().gemm_q4_q8(w.w, 0, rows, a.a, ref.data(), rows);
        kernels_for(isa).gemm_q4_q8(w.w, 0, rows, a.a, got.data(), rows);
        const float tol = 1e-5f * max_abs(ref) + 1e-6f;
        for (size_t i = 0; i < ref.size(); ++i)
          ASSERT_NEAR(ref[i], got[i], tol) << cpu_isa_name(isa) << " cols " << cols << " n " << n << " i " << i;
      }
    }
  }
}

TEST(CpuKernels, GemmQ4Q8ApproximatesFloatMatmul) {
  // The quantised path differs from fp32 math only by activation rounding (<= d/2 each).
  const int64_t rows = 8, cols = 256;
  const Int4Storage w(rows, cols, 2);
  const std::vector<float> x = randn(cols, 9);
  const Acts a(reference_kernels(), x, 1, cols);
  std::vector<float> y(rows), row(cols);
  reference_kernels().gemm_q4_q8(w.w, 0, rows, a.a, y.data(), rows);
  for (int64_t r = 0; r < rows; ++r) {
    reference_kernels().dequant_row_q4(w.w, r, row.data());
    double exact = 0, bound = 0;
    for (int64_t c = 0; c < cols; ++c) {
      exact += static_cast<double>(row[c]) * x[c];
      bound += std::fabs(row[c]) * 0.5 * a.d[c / 32];
    }
    EXPECT_NEAR(y[r], exact, bound + 1e-4) << r;
  }
}

TEST(CpuKernels, GemmQ8Q8MatchesReference) {
  for (CpuIsa isa : fast_isas()) {
    for (int64_t cols : {64, 160, 576}) {
      for (int64_t n : {1, 2, 5}) {
        const int64_t rows = 21;
        const Int8Storage w(rows, cols, 13);
        const std::vector<float> x = randn(n * cols, 6);
        const Acts a(reference_kernels(), x, n, cols);
        std::vector<float> ref(n * rows), got(n * rows, -1.0f);
        reference_kernels().gemm_q8_q8(w.w, 0, rows, a.a, ref.data(), rows);
        kernels_for(isa).gemm_q8_q8(w.w, 0, rows, a.a, got.data(), rows);
        const float tol = 1e-5f * max_abs(ref) + 1e-6f;
        for (size_t i = 0; i < ref.size(); ++i)
          ASSERT_NEAR(ref[i], got[i], tol) << cpu_isa_name(isa) << " cols " << cols << " n " << n << " i " << i;
      }
    }
  }
}

TEST(CpuKernels, DequantRowsAreBitExact) {
  for (CpuIsa isa : fast_isas()) {
    for (int64_t cols : {64, 96, 576}) {
      const Int4Storage w4(3, cols, 1);
      const Int8Storage w8(3, cols, 2);
      std::vector<float> a(cols), b(cols);
      for (int64_t r = 0; r < 3; ++r) {
        reference_kernels().dequant_row_q4(w4.w, r, a.data());
        kernels_for(isa).dequant_row_q4(w4.w, r, b.data());
        EXPECT_EQ(a, b) << cpu_isa_name(isa) << " q4 cols " << cols;
        reference_kernels().dequant_row_q8(w8.w, r, a.data());
        kernels_for(isa).dequant_row_q8(w8.w, r, b.data());
        EXPECT_EQ(a, b) << cpu_isa_name(isa) << " q8 cols " << cols;
      }
    }
  }
}

TEST(CpuKernels, HalfConversionsAreBitExact) {
  std::vector<float> x = randn(1000, 4, 100.0f);
  x[0] = 70000.0f;  // overflow -> inf
  x[1] = 1e-6f;     // fp16 subnormal
  x[2] = -0.0f;
  std::vector<uint16_t> h(x.size()), bf(x.size());
  for (size_t i = 0; i < x.size(); ++i) bf[i] = f32_to_bf16(x[i]);
  for (CpuIsa isa : fast_isas()) {
    const Kernels& k = kernels_for(isa);
    std::vector<uint16_t> h_ref(x.size()), h_got(x.size());
    reference_kernels().f32_to_fp16(x.data(), x.size(), h_ref.data());
    k.f32_to_fp16(x.data(), x.size(), h_got.data());
    EXPECT_EQ(h_ref, h_got) << cpu_isa_name(isa);
    std::vector<float> f_ref(x.size()), f_got(x.size());
    reference_kernels().fp16_to_f32(h_ref.data(), x.size(), f_ref.data());
    k.fp16_to_f32(h_ref.data(), x.size(), f_got.data());
    for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(f32_bits(f_ref[i]), f32_bits(f_got[i])) << i;
    reference_kernels().bf16_to_f32(bf.data(), x.size(), f_ref.data());
    k.bf16_to_f32(bf.data(), x.size(), f_got.data());
    for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(f32_bits(f_ref[i]), f32_bits(f_got[i])) << i;
  }
}

TEST(CpuKernels, FloatKernelsMatchReference) {
  for (CpuIsa isa : fast_isas()) {
    const Kernels& k = kernels_for(isa);
    for (int64_t n : {7, 64, 100, 576}) {
      const std::vector<float> a = randn(n, 1), b = randn(n, 2), w = randn(n, 3);
      EXPECT_NEAR(k.dot_f32(a.data(), b.data(), n), reference_kernels().dot_f32(a.data(), b.data(), n),
                  1e-5f * n) << cpu_isa_name(isa);
      std::vector<float> r1(n), r2(n);
      reference_kernels().rms_norm(a.data(), w.data(), n, 1e-5f, r1.data());
      k.rms_norm(a.data(), w.data(), n, 1e-5f, r2.data());
      for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(r1[i], r2[i], 1e-5f * (1 + std::fabs(r1[i]))) << i;
      reference_kernels().silu_mul(a.data(), b.data(), n, r1.data());
      k.silu_mul(a.data(), b.data(), n, r2.data());
      for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(r1[i], r2[i], 1e-6f * (1 + std::fabs(r1[i]))) << i;
    }
    for (int64_t dim : {16, 64, 128, 24}) {
      const int64_t rows = 19;
      const std::vector<float> q = randn(dim, 4), kv = randn(rows * dim, 5), p = randn(rows, 6);
      std::vector<float> s1(rows), s2(rows);
      reference_kernels().attn_scores(q.data(), kv.data(), rows, dim, 0.125f, s1.data());
      k.attn_scores(q.data(), kv.data(), rows, dim, 0.125f, s2.data());
      for (int64_t i = 0; i < rows; ++i) EXPECT_NEAR(s1[i], s2[i], 1e-5f * dim) << cpu_isa_name(isa) << " " << dim;
      std::vector<float> o1 = randn(dim, 7), o2 = o1;
      reference_kernels().attn_accum(p.data(), kv.data(), rows, dim, o1.data());
      k.attn_accum(p.data(), kv.data(), rows, dim, o2.data());
      for (int64_t j = 0; j < dim; ++j) EXPECT_NEAR(o1[j], o2[j], 1e-5f * rows) << cpu_isa_name(isa) << " " << dim;
    }
  }
}

// Vectorised exp (silu, softmax): within a few ulp of std::exp, including the clamped
// extremes where exp over/underflows.
TEST(CpuKernels, VectorExpKernelsMatchReference) {
  for (CpuIsa isa : fast_isas()) {
    const Kernels& k = kernels_for(isa);
    std::vector<float> g = randn(203, 11, 4.0f), u = randn(203, 12);
    g[0] = 100.0f;
    g[1] = -100.0f;
    g[2] = 88.0f;
    g[3] = -87.0f;
    g[4] = 0.0f;
    std::vector<float> r1(g.size()), r2(g.size());
    reference_kernels().silu_mul(g.data(), u.data(), static_cast<int64_t>(g.size()), r1.data());
    k.silu_mul(g.data(), u.data(), static_cast<int64_t>(g.size()), r2.data());
    for (size_t i = 0; i < g.size(); ++i)
      EXPECT_NEAR(r1[i], r2[i], 1e-6f * (1 + std::fabs(r1[i]))) << cpu_isa_name(isa) << " " << i << " g " << g[i];
    for (int64_t n : {1, 7, 16, 31, 100, 257}) {
      std::vector<float> x = randn(n, 13 + n, 8.0f), y = x;
      if (n > 2) x[1] = y[1] = -1000.0f;  // exp underflows to 0
      reference_kernels().softmax(x.data(), n);
      k.softmax(y.data(), n);
      float sum = 0.0f;
      for (int64_t i = 0; i < n; ++i) {
        EXPECT_NEAR(x[i], y[i], 2e-6f * (1e-3f + x[i])) << cpu_isa_name(isa) << " n " << n << " i " << i;
        sum += y[i];
      }
      EXPECT_NEAR(sum, 1.0f, 1e-5f) << cpu_isa_name(isa) << " n " << n;
    }
  }
}

// simd_float_kernels.h ends every row with one partial vector instead of a scalar tail: an
// element-wise kernel gives a value the same bits wherever the row ends, and no kernel reads
// or writes past n (the values after the row stay as they were).
TEST(CpuKernels, PartialVectorTailsMatchFullVectorsAndStayInBounds) {
  constexpr int64_t kMax = 64;
  constexpr float kSentinel = 12345.0f;
  for (CpuIsa isa : fast_isas()) {
    const Kernels& k = kernels_for(isa);
    const std::vector<float> g = randn(kMax, 21, 4.0f), u = randn(kMax, 22), w = randn(kMax, 23);
    std::vector<float> full(kMax);
    k.silu_mul(g.data(), u.data(), kMax, full.data());
    for (int64_t n = 1; n < kMax; ++n) {
      std::vector<float> out(kMax, kSentinel);
      k.silu_mul(g.data(), u.data(), n, out.data());
      for (int64_t i = 0; i < n; ++i)
        EXPECT_EQ(f32_bits(out[i]), f32_bits(full[i])) << cpu_isa_name(isa) << " silu_mul n " << n << " i " << i;
      for (int64_t i = n; i < kMax; ++i) EXPECT_EQ(out[i], kSentinel) << cpu_isa_name(isa) << " silu_mul n " << n;
      out.assign(kMax, kSentinel);
      k.rms_norm(g.data(), w.data(), n, 1e-5f, out.data());
      for (int64_t i = n; i < kMax; ++i) EXPECT_EQ(out[i], kSentinel) << cpu_isa_name(isa) << " rms_norm n " << n;
      std::vector<float> x = g;
      x.resize(static_cast<size_t>(n));
      x.resize(kMax, kSentinel);
      k.softmax(x.data(), n);
      for (int64_t i = n; i < kMax; ++i) EXPECT_EQ(x[i], kSentinel) << cpu_isa_name(isa) << " softmax n " << n;
    }
  }
}

TEST(CpuKernels, IsaOverrideSelectsTable) {
  const CpuIsa saved = cpu_isa();
  set_cpu_isa(CpuIsa::kScalar);
  EXPECT_EQ(kernels().isa, CpuIsa::kScalar);
  set_cpu_isa(detected_cpu_isa());
  EXPECT_EQ(kernels().isa, detected_cpu_isa());
  EXPECT_THROW(parse_cpu_isa("sse9"), Error);
  set_cpu_isa(saved);
}

}  // namespace
}  // namespace lmd::cpu
