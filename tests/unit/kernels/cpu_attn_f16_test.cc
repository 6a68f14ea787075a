// attn_scores_f16 / attn_accum_f16 (fp16 K/V read in place) of every ISA vs the scalar
// reference, and the reference vs the fp32 kernels on the converted rows (same order of
// operations, so the same bits). dim 64 / 128 / 256 take the register paths, 40 and 72 the
// fallbacks; nq covers 1..9 (the AVX-512 accumulate works in chunks of 8 queries).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/cpu_features.h"
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

std::vector<uint16_t> to_f16(const std::vector<float>& x) {
  std::vector<uint16_t> h(x.size());
  for (size_t i = 0; i < x.size(); ++i) h[i] = f32_to_fp16(x[i]);
  return h;
}

TEST(CpuAttnF16, ReferenceEqualsF32KernelsOnConvertedRows) {
  const int64_t dim = 64, rows = 13, nq = 3, ldo = 20;
  const std::vector<float> q = randn(nq * dim, 1);
  const std::vector<uint16_t> k = to_f16(randn(rows * dim, 2));
  std::vector<float> kf(k.size());
  reference_kernels().fp16_to_f32(k.data(), static_cast<int64_t>(k.size()), kf.data());
  std::vector<float> a(nq * ldo, 0.0f), b(nq * ldo, 0.0f);
  reference_kernels().attn_scores_f16(q.data(), nq, k.data(), rows, dim, 0.125f, a.data(), ldo);
  for (int64_t i = 0; i < nq; ++i)
    reference_kernels().attn_scores(q.data() + i * dim, kf.data(), rows, dim, 0.125f, b.data() + i * ldo);
  EXPECT_EQ(a, b);
  const std::vector<float> p = randn(nq * ldo, 3);
  std::vector<float> oa(nq * dim, 0.5f), ob(nq * dim, 0.5f);
  reference_kernels().attn_accum_f16(p.data(), ldo, nq, k.data(), rows, dim, oa.data());
  for (int64_t i = 0; i < nq; ++i)
    reference_kernels().attn_accum(p.data() + i * ldo, kf.data(), rows, dim, ob.data() + i * dim);
  EXPECT_EQ(oa, ob);
}

TEST(CpuAttnF16, ScoresMatchReference) {
  for (CpuIsa isa : fast_isas()) {
    for (int64_t dim : {40, 64, 72, 128, 256}) {
      for (int64_t nq : {1, 3, 9}) {
        const int64_t rows = 17, ldo = 23;
        const std::vector<float> q = randn(nq * dim, static_cast<uint32_t>(dim + nq));
        const std::vector<uint16_t> k = to_f16(randn(rows * dim, static_cast<uint32_t>(dim * 3)));
        std::vector<float> ref(nq * ldo, -7.0f), got(nq * ldo, -7.0f);
        reference_kernels().attn_scores_f16(q.data(), nq, k.data(), rows, dim, 0.1f, ref.data(), ldo);
        kernels_for(isa).attn_scores_f16(q.data(), nq, k.data(), rows, dim, 0.1f, got.data(), ldo);
        for (size_t i = 0; i < ref.size(); ++i) {
          if (static_cast<int64_t>(i % ldo) >= rows) {
            ASSERT_EQ(got[i], -7.0f) << "wrote past rows: " << cpu_isa_name(isa) << " dim " << dim << " i " << i;
            continue;
          }
          ASSERT_NEAR(ref[i], got[i], 1e-5f * dim) << cpu_isa_name(isa) << " dim " << dim << " nq " << nq << " i " << i;
        }
      }
    }
  }
}

TEST(CpuAttnF16, AccumMatchesReference) {
  for (CpuIsa isa : fast_isas()) {
    for (int64_t dim : {40, 64, 72, 128}) {
      for (int64_t np : {1, 3, 8, 9}) {
        const int64_t rows = 19, ldp = 32;
        const std::vector<float> p = randn(np * ldp, static_cast<uint32_t>(np + 5));
        const std::vector<uint16_t> v = to_f16(randn(rows * dim, static_cast<uint32_t>(dim + 11)));
        std::vector<float> ref = randn(np * dim, 77), got = ref;
        reference_kernels().attn_accum_f16(p.data(), ldp, np, v.data(), rows, dim, ref.data());
        kernels_for(isa).attn_accum_f16(p.data(), ldp, np, v.data(), rows, dim, got.data());
        for (size_t i = 0; i < ref.size(); ++i)
          ASSERT_NEAR(ref[i], got[i], 1e-4f) << cpu_isa_name(isa) << " dim " << dim << " np " << np << " i " << i;
      }
    }
  }
}

}  // namespace
}  // namespace lmd::cpu
