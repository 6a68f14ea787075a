// Prefill attention (prefill_attention.cuh) under the shim, in every schedule, against a
// double-precision reference that reads the same paged cache through KvLayout.
//
// Tolerance. The kernel rounds Q, and K / V after dequantisation, to fp16 (tensor-core
// inputs) and rounds the unnormalised probabilities p = exp(s - m) in [0, 1] to fp16 for
// P V, while the row sum l stays fp32 over the unrounded p. The strict reference rounds Q, K
// and V to fp16 the same way (exactly representable in double), so the only rounding left
// is p~ = p (1 + d), |d| <= u = 2^-11:
//   |o~ - o| = |sum_p p d v_p| / l <= u * max|v|,
// plus fp32 accumulation (~1e-6 here); asserted: u * max|v| + 2e-5 (about 7.5e-4 for the
// inputs in [-1.5, 1.5]). A wrong mask or fragment moves outputs by ~1e-2 or more. Against
// the exact reference (no fp16 rounding at all) the error is also checked to stay below
// 4e-3 * max|v| (Q rounding perturbs scores by ~u * sqrt(D) * |q||k| * scale ~ 3e-4).
//
// Shapes: GQA 1 / 3 / 8, head dims 64 / 128, f16 / int8 / int4 KV, block_len 16 / 64; five
// sequences in one step: a fresh prompt of 37 rows (partial tile), a chunk of 19 rows on 21
// positions of history, one row, 16 rows on 50 positions of history, and 70 rows on 5 (two
// CTAs per KV head even without GQA, three key tiles); block tables out of order with unused
// blocks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/common/half.h"
#include "kernels/common/kv_quant.h"
#include "kernels/cuda/prefill_attention.cuh"
#include "tests/cuda/schedules.h"
#include "tests/test_util/random.h"

namespace lmd::cuda_test {
namespace {

double to_f16(double x) { return fp16_to_f32(f32_to_fp16(static_cast<float>(x))); }

// Host store of one K / V row (the CPU backend's format).
void store_row(const KvLayout& L, uint8_t* block, int layer, int kv, int head, int slot, const float* x) {
  uint8_t* dst = block + L.row_offset(layer, kv, head, slot);
  KvQuantParams p{};
  switch (L.kind) {
    case KvKind::kF32: std::memcpy(dst, x, 4 * L.head_dim); return;
    case KvKind::kF16:
      for (int i = 0; i < L.head_dim; ++i) reinterpret_cast<uint16_t*>(dst)[i] = f32_to_fp16(x[i]);
      return;
    case KvKind::kInt8: p = kv_quantize_row_int8(x, L.head_dim, dst); break;
    case KvKind::kInt4: p = kv_quantize_row_int4(x, L.head_dim, dst); break;
  }
  float* par = reinterpret_cast<float*>(block + L.param_offset(layer, kv, head, slot));
  par[0] = p.scale;
  par[1] = p.zero;
}

// One element of the cache, dequantised (the value attention must see).
float load_elem(const KvLayout& L, const uint8_t* block, int layer, int kv, int head, int slot, int i) {
  const uint8_t* row = block + L.row_offset(layer, kv, head, slot);
  const float* par =
      L.quantized() ? reinterpret_cast<const float*>(block + L.param_offset(layer, kv, head, slot)) : nullptr;
  switch (L.kind) {
    case KvKind::kF32: return reinterpret_cast<const float*>(row)[i];
    case KvKind::kF16: return fp16_to_f32(reinterpret_cast<const uint16_t*>(row)[i]);
    case KvKind::kInt8: return kv_dequantize_value(row[i], par[0], par[1]);
    case KvKind::kInt4: return kv_dequantize_value(i % 2 ? row[i / 2] >> 4 : row[i / 2] & 15, par[0], par[1]);
  }
  return 0;
}

struct Case {
  int head_num, kv_head_num, head_dim;
  KvKind kind;
  int block_len;
};

void run_case(const Case& c) {
  const int layer = 1, hd = c.head_dim, group = c.head_num / c.kv_head_num;
  KvLayout L;
  L.num_layer = 2;
  L.kv_head_num = c.kv_head_num;
  L.head_dim = hd;
  L.block_len = c.block_len;
  L.kind = c.kind;
  // (history, rows in the step) per sequence; rows are consecutive in the step.
  const std::vector<std::pair<int, int>> shape = {{0, 37}, {21, 19}, {0, 1}, {50, 16}, {5, 70}};
  std::vector<cuda::PrefillSeq> seqs;
  std::vector<int32_t> flat_tables;
  // Block ids handed out in a shuffled order, every third one skipped (never used).
  std::vector<int32_t> ids;
  for (int b = 0; b < 64; ++b)
    if (b % 3 != 1) ids.push_back(b);
  std::shuffle(ids.begin(), ids.end(), std::mt19937(7));
  size_t next_id = 0;
  int rows = 0;
  for (auto [hist, n] : shape) {
    const int len = hist + n, nb = (len + c.block_len - 1) / c.block_len;
    seqs.push_back(cuda::PrefillSeq{rows, n, hist, static_cast<int32_t>(flat_tables.size())});
    for (int b = 0; b < nb; ++b) flat_tables.push_back(ids.at(next_id++));
    rows += n;
  }
  const int num_blocks = 64;
  std::vector<uint8_t> cache(L.block_bytes() * num_blocks, 0);
  // K / V of every position (history and this step's rows), written into the cache.
  for (size_t s = 0; s < seqs.size(); ++s) {
    const int len = seqs[s].history + seqs[s].n_rows;
    const std::vector<float> kv =
        test_util::uniform(static_cast<size_t>(len) * 2 * c.kv_head_num * hd, 100 + s, -1.5f, 1.5f);
    for (int p = 0; p < len; ++p) {
      uint8_t* block = cache.data() + L.block_bytes() * flat_tables[seqs[s].table_offset + p / c.block_len];
      for (int h = 0; h < c.kv_head_num; ++h)
        for (int which = 0; which < 2; ++which)
          store_row(L, block, layer, which, h, p % c.block_len,
                    kv.data() + ((static_cast<size_t>(p) * 2 + which) * c.kv_head_num + h) * hd);
    }
  }
  const size_t qsize = static_cast<size_t>(rows) * c.head_num * hd;
  const std::vector<float> q = test_util::uniform(qsize, 1, -1.5f, 1.5f);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));

  // References: exact and with Q, K, V rounded to fp16 as the kernel's mma inputs.
  std::vector<double> ref_exact(qsize), ref_round(qsize);
  double max_v = 0.0;
  for (const cuda::PrefillSeq& s : seqs) {
    for (int i = 0; i < s.n_rows; ++i) {
      const int pos = s.history + i;
      for (int h = 0; h < c.head_num; ++h) {
        const float* qv = q.data() + (static_cast<size_t>(s.row0 + i) * c.head_num + h) * hd;
        for (int rounded = 0; rounded < 2; ++rounded) {
          std::vector<double> w(pos + 1);
          double big = -1e300;
          for (int p = 0; p <= pos; ++p) {
            const uint8_t* block = cache.data() + L.block_bytes() * flat_tables[s.table_offset + p / c.block_len];
            double d = 0;
            for (int e = 0; e < hd; ++e) {
              const double k = load_elem(L, block, layer, 0, h / group, p % c.block_len, e);
              d += rounded ? to_f16(qv[e]) * to_f16(k) : static_cast<double>(qv[e]) * k;
            }
            w[p] = d * scale;
            big = std::max(big, w[p]);
          }
          double sum = 0;
          for (double& x : w) sum += (x = std::exp(x - big));
          for (int e = 0; e < hd; ++e) {
            double o = 0;
            for (int p = 0; p <= pos; ++p) {
              const uint8_t* block = cache.data() + L.block_bytes() * flat_tables[s.table_offset + p / c.block_len];
              const double v = load_elem(L, block, layer, 1, h / group, p % c.block_len, e);
              max_v = std::max(max_v, std::fabs(v));
              o += w[p] * (rounded ? to_f16(v) : v);
            }
            (rounded ? ref_round : ref_exact)[(static_cast<size_t>(s.row0 + i) * c.head_num + h) * hd + e] = o / sum;
          }
        }
      }
    }
  }
  const double tol = std::ldexp(1.0, -11) * max_v + 2e-5, tol_exact = 4e-3 * max_v;

  const std::vector<cuda::PrefillTile> tiles = cuda::prefill_tiles(seqs, group);
  for_each_schedule([&] {
    std::vector<float> out(qsize, std::nanf(""));
    cuda::PrefillAttentionArgs a{q.data(), out.data(), tiles.data(), static_cast<int>(tiles.size()),
                                 flat_tables.data(), cache.data(), cuda::KvView::of(L), layer, c.head_num, scale};
    cuda::prefill_attention(a);
    double worst = 0.0, worst_exact = 0.0;
    for (size_t i = 0; i < qsize; ++i) {
      ASSERT_NEAR(out[i], ref_round[i], tol) << "row " << i / (c.head_num * hd) << " head " << (i / hd) % c.head_num
                                             << " dim " << i % hd;
      worst = std::max(worst, std::fabs(out[i] - ref_round[i]));
      worst_exact = std::max(worst_exact, std::fabs(out[i] - ref_exact[i]));
    }
    EXPECT_LT(worst_exact, tol_exact) << "vs the unrounded reference";
    std::printf("[ prefill ] max |err| %.3g (tol %.3g), vs exact %.3g (tol %.3g)\n", worst, tol, worst_exact,
                tol_exact);
  });
}

class CudaPrefillAttention : public ::testing::TestWithParam<Case> {};

TEST_P(CudaPrefillAttention, MatchesReferenceInEverySchedule) { run_case(GetParam()); }

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (auto [h, kvh] : {std::pair{4, 4}, std::pair{6, 2}, std::pair{8, 1}})
    for (int d : {64, 128})
      for (KvKind k : {KvKind::kF16, KvKind::kInt8, KvKind::kInt4})
        cases.push_back({h, kvh, d, k, k == KvKind::kInt8 ? 64 : 16});
  // block_len 64 for the other kinds too, at one shape each.
  cases.push_back({6, 2, 128, KvKind::kF16, 64});
  cases.push_back({8, 1, 64, KvKind::kInt4, 64});
  return cases;
}

std::string case_name(const ::testing::TestParamInfo<Case>& i) {
  static const char* kinds[] = {"f32", "f16", "int8", "int4"};
  return "gqa" + std::to_string(i.param.head_num / i.param.kv_head_num) + "_d" + std::to_string(i.param.head_dim) +
         "_" + kinds[static_cast<int>(i.param.kind)] + "_bl" + std::to_string(i.param.block_len);
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaPrefillAttention, ::testing::ValuesIn(all_cases()), case_name);

// The backend's choice: the prefill kernel only for sequences with >= kPrefillMinRows rows
// and a layout it supports; everything else stays on the decode kernel.
TEST(CudaPrefillAttentionPolicy, UsedOnlyWhereValid) {
  KvLayout L;
  L.num_layer = 1;
  L.kv_head_num = 2;
  L.head_dim = 64;
  L.block_len = 16;
  for (KvKind k : {KvKind::kF16, KvKind::kInt8, KvKind::kInt4}) {
    L.kind = k;
    const cuda::KvView v = cuda::KvView::of(L);
    EXPECT_TRUE(cuda::use_prefill_attention(v, 6, cuda::kPrefillMinRows));
    EXPECT_TRUE(cuda::use_prefill_attention(v, 6, 500));
    EXPECT_FALSE(cuda::use_prefill_attention(v, 6, cuda::kPrefillMinRows - 1)) << "too few rows";
    EXPECT_FALSE(cuda::use_prefill_attention(v, 6, 1)) << "decode row";
    EXPECT_FALSE(cuda::use_prefill_attention(v, 5, 100)) << "head_num not a multiple of kv_head_num";
  }
  L.kind = KvKind::kF32;
  EXPECT_FALSE(cuda::use_prefill_attention(cuda::KvView::of(L), 6, 100)) << "f32 KV keeps the exact decode kernel";
  L.kind = KvKind::kF16;
  for (int d : {32, 96, 256}) {
    L.head_dim = d;
    EXPECT_FALSE(cuda::use_prefill_attention(cuda::KvView::of(L), 6, 100)) << "head_dim " << d;
  }
}

TEST(CudaPrefillAttentionPolicy, RefusesUnsupportedLayoutsWithAClearError) {
  KvLayout L;
  L.num_layer = 1;
  L.kv_head_num = 1;
  L.head_dim = 64;
  L.block_len = 16;
  L.kind = KvKind::kF32;
  cuda::PrefillAttentionArgs a{};
  a.kv = cuda::KvView::of(L);
  a.head_num = 1;
  try {
    cuda::prefill_attention(a);
    FAIL() << "f32 KV accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("f32 KV"), std::string::npos) << e.what();
  }
  L.kind = KvKind::kF16;
  L.head_dim = 96;
  a.kv = cuda::KvView::of(L);
  a.num_tiles = 1;
  EXPECT_THROW(cuda::prefill_attention(a), Error);
}

TEST(CudaPrefillAttentionPolicy, TilesCoverEveryRowAndHeadOnce) {
  const std::vector<cuda::PrefillSeq> seqs = {{0, 37, 0, 0}, {37, 16, 50, 3}, {53, 64, 0, 9}};
  for (int group : {1, 3, 8}) {
    const auto tiles = cuda::prefill_tiles(seqs, group);
    size_t expect = 0;
    for (const auto& s : seqs)
      expect += (static_cast<size_t>(s.n_rows) * group + cuda::kPrefillTileM - 1) / cuda::kPrefillTileM;
    ASSERT_EQ(tiles.size(), expect) << "group " << group;
    for (size_t i = 0; i < tiles.size(); ++i) {
      EXPECT_EQ(tiles[i].flat0 % cuda::kPrefillTileM, 0);
      EXPECT_LT(tiles[i].flat0, tiles[i].seq.n_rows * group);
    }
  }
}

}  // namespace
}  // namespace lmd::cuda_test
