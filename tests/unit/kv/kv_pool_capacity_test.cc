// The KV pool holds 2x (int8) and 4x (int4) the tokens of fp16 at the same byte budget,
// less the per-row parameter overhead of core/kv_layout.h: every [head_dim] row of an int8 /
// int4 block carries a float32 (scale, zero) pair = 8 bytes. Per row:
//   fp16: 2·d bytes;  int8: d + 8;  int4: d/2 + 8
// so at one byte budget the token ratios are
//   int8 / fp16 = 2d / (d + 8)    = 2 / (1 + 8/d)   (d = 64: 1.777…)
//   int4 / fp16 = 2d / (d/2 + 8)  = 4 / (1 + 16/d)  (d = 64: 3.2)
// The pool is sized by the engine's rule (loader/kv_pool_size.h) in whole blocks, so each
// token count is exact to one block.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "loader/kv_pool_size.h"
#include "core/kv_layout.h"
#include "core/quant_policy.h"

namespace lmd {
namespace {

KvLayout layout_of(KvKind kind, int head_dim) {
  KvLayout l;
  l.num_layer = 30;  // SmolLM2-135M: 30 layers, 3 KV heads
  l.kv_head_num = 3;
  l.head_dim = head_dim;
  l.block_len = 64;
  l.kind = kind;
  return l;
}

// Tokens the engine's pool holds for `kind` out of `budget` bytes (fraction 1/2 of 2·budget).
int64_t pool_tokens(KvKind kind, int head_dim, uint64_t budget) {
  const KvLayout l = layout_of(kind, head_dim);
  KvPoolRequest r;
  r.cache_max_entry_count = 0.5f;
  r.block_bytes = l.block_bytes();
  r.available_bytes = 2 * budget;
  r.weight_bytes = 0;
  r.max_batch_size = 1 << 20;  // no session cap: memory decides
  r.session_len = 2048;
  r.block_len = l.block_len;
  return static_cast<int64_t>(kv_pool_blocks(r)) * l.block_len;
}

TEST(KvPoolCapacity, BlockBytesFollowTheLayoutFormula) {
  for (int d : {64, 128}) {
    const size_t rows = 30 * 2 * 3 * 64;  // layers × (K, V) × heads × slots
    EXPECT_EQ(layout_of(KvKind::kF16, d).block_bytes(), rows * 2 * d);
    EXPECT_EQ(layout_of(KvKind::kInt8, d).block_bytes(), rows * (d + 8));
    EXPECT_EQ(layout_of(KvKind::kInt4, d).block_bytes(), rows * (d / 2 + 8));
  }
  // SmolLM2 per token (30 layers, 3 KV heads × 64): 23040 / 12960 / 7200 bytes (docs/quantization.md).
  EXPECT_EQ(layout_of(KvKind::kF16, 64).block_bytes() / 64, 23040u);
  EXPECT_EQ(layout_of(KvKind::kInt8, 64).block_bytes() / 64, 12960u);
  EXPECT_EQ(layout_of(KvKind::kInt4, 64).block_bytes() / 64, 7200u);
}

TEST(KvPoolCapacity, Int8HoldsTwiceAndInt4FourTimesLessParamOverhead) {
  const uint64_t budget = 4ull << 30;  // 4 GiB
  for (int d : {64, 128, 256}) {
    const double fp = static_cast<double>(pool_tokens(KvKind::kF16, d, budget));
    const double i8 = static_cast<double>(pool_tokens(KvKind::kInt8, d, budget));
    const double i4 = static_cast<double>(pool_tokens(KvKind::kInt4, d, budget));
    const double want8 = 2.0 / (1.0 + 8.0 / d), want4 = 4.0 / (1.0 + 16.0 / d);
    // Whole blocks: each count is floor(budget / block_bytes) · 64, so the ratio is exact to
    // about one block of the fp16 pool (~1/fp of relative error).
    const double tol = 2.0 * 64.0 / fp * want4;
    EXPECT_NEAR(i8 / fp, want8, tol) << "head_dim " << d;
    EXPECT_NEAR(i4 / fp, want4, tol) << "head_dim " << d;
    // Strictly less than the naive 2x / 4x: the (scale, zero) pairs cost something.
    EXPECT_LT(i8 / fp, 2.0) << "head_dim " << d;
    EXPECT_LT(i4 / fp, 4.0) << "head_dim " << d;
  }
  // The figures docs/quantization.md quotes for SmolLM2 (head_dim 64).
  const double fp = static_cast<double>(pool_tokens(KvKind::kF16, 64, budget));
  EXPECT_NEAR(pool_tokens(KvKind::kInt8, 64, budget) / fp, 16.0 / 9.0, 1e-3);
  EXPECT_NEAR(pool_tokens(KvKind::kInt4, 64, budget) / fp, 3.2, 1e-3);
}

TEST(KvPoolCapacity, QuantPolicySelectsTheKind) {
  EXPECT_EQ(kv_kind_for_quant_policy(parse_quant_policy_value("0")), KvKind::kF16);
  EXPECT_EQ(kv_kind_for_quant_policy(parse_quant_policy_value("fp16")), KvKind::kF16);
  EXPECT_EQ(kv_kind_for_quant_policy(parse_quant_policy_value("4")), KvKind::kInt8);
  EXPECT_EQ(kv_kind_for_quant_policy(parse_quant_policy_value("8")), KvKind::kInt8);
  EXPECT_EQ(kv_kind_for_quant_policy(parse_quant_policy_value("int8")), KvKind::kInt8);
  EXPECT_EQ(kv_kind_for_quant_policy(parse_quant_policy_value("int4")), KvKind::kInt4);
  EXPECT_EQ(kv_kind_for_quant_policy(parse_quant_policy_value("16")), KvKind::kInt4);
  for (const char* bad : {"3", "7", "int2", "", "INT8", "4.0"}) {
    try {
      parse_quant_policy_value(bad, "config.ini: field 'quant_policy' =");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find(std::string("'") + bad + "'"), std::string::npos) << m;
      EXPECT_NE(m.find("int4"), std::string::npos) << m;  // lists the accepted values
      EXPECT_NE(m.find("config.ini"), std::string::npos) << m;
    }
  }
  EXPECT_THROW(kv_kind_for_quant_policy(-1), Error);
  EXPECT_THROW(kv_kind_for_quant_policy(2), Error);
}

}  // namespace
}  // namespace lmd
