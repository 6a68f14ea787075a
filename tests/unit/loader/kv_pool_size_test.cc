#include "loader/kv_pool_size.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace lmd {
namespace {

TEST(KvPoolSizeTest, FractionBlockCountAndCap) {
  KvPoolRequest r;
  r.block_bytes = 1 << 20;           // 1 MiB blocks
  r.available_bytes = 1100ull << 20;  // 1100 MiB available
  r.weight_bytes = 100ull << 20;      // 100 MiB still to come for the weights
  r.max_batch_size = 64;
  r.session_len = 2048;
  r.block_len = 64;
  r.cache_max_entry_count = 0.5f;
  EXPECT_EQ(kv_pool_blocks(r), 500);  // half of (1100 - 100) MiB
  r.cache_max_entry_count = 37.0f;
  EXPECT_EQ(kv_pool_blocks(r), 37);   // >= 1: a block count
  r.cache_max_entry_count = 0.9f;
  r.max_batch_size = 2;
  EXPECT_EQ(kv_pool_blocks(r), 64);   // 2 sessions x 32 blocks is all that can be used
  r.cache_max_entry_count = 0.0f;
  EXPECT_THROW(kv_pool_blocks(r), Error);
  r.cache_max_entry_count = 0.5f;
  r.available_bytes = 0;
  EXPECT_THROW(kv_pool_blocks(r), Error);
}

}  // namespace
}  // namespace lmd
