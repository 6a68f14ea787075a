#include "engine/kv_pool_size.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "engine/incremental_text.h"
#include "mock_model.h"

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

TEST(IncrementalTextTest, HoldsIncompleteUtf8AndKeepsContext) {
  // Ids 2 and 3 are the two bytes of "é"; 4 is " x"; 5 is "y".
  test::MockCodec codec({"", "", "\xC3", "\xA9", " x", "y"});
  IncrementalText t(codec, {5});
  EXPECT_EQ(t.push(4), " x");
  EXPECT_EQ(t.push(2), "");  // half a character
  EXPECT_EQ(t.push(3), "\xC3\xA9");
  EXPECT_EQ(t.push(2), "");
  EXPECT_EQ(t.flush(), "\xC3");
  EXPECT_TRUE(ends_incomplete_utf8("ab\xE2\x82"));
  EXPECT_FALSE(ends_incomplete_utf8("ab\xE2\x82\xAC"));
  EXPECT_TRUE(ends_incomplete_utf8("ab\xEF\xBF\xBD"));
}

}  // namespace
}  // namespace lmd
