#include "kv/sequence_manager.h"

#include <gtest/gtest.h>

namespace lmd {
namespace {

Sequence make_seq(int64_t id, std::vector<int32_t> tokens) {
  Sequence s;
  s.session_id = id;
  s.tokens = std::move(tokens);
  return s;
}

std::vector<int32_t> iota(int n, int start = 0) {
  std::vector<int32_t> v(n);
  for (int i = 0; i < n; ++i) v[i] = start + i;
  return v;
}

TEST(SequenceManagerTest, LockKeepsValidBlocksAndDropsAfterEviction) {
  BlockManager bm(4, 1);
  SequenceManager sm(bm, 4, false);
  Sequence s = make_seq(1, iota(11));
  sm.match_prefix(s);
  ASSERT_TRUE(sm.reserve(s, 10));
  EXPECT_EQ(s.blocks.size(), 3u);
  sm.commit(s, 10);
  sm.unlock(s);
  EXPECT_EQ(bm.counts().cached, 3);
  EXPECT_EQ(sm.lock(s), 0);  // all still there
  EXPECT_EQ(s.kv_len, 10);
  sm.unlock(s);
  // Someone takes 2 blocks: the free one, then the LRU cached one (s's first block).
  Sequence other = make_seq(2, iota(8, 100));
  sm.match_prefix(other);
  ASSERT_TRUE(sm.reserve(other, 8));
  EXPECT_EQ(sm.lock(s), 10);  // the first block went: nothing after it is usable
  EXPECT_EQ(s.kv_len, 0);
  EXPECT_TRUE(s.blocks.empty());
  EXPECT_EQ(bm.counts().free, 2);  // s's orphaned blocks went back to FREE
  sm.drop(other);
  sm.drop(s);
  EXPECT_EQ(bm.counts().free, 4);
}

TEST(SequenceManagerTest, PrefixCachingSharesFullBlocksOnly) {
  BlockManager bm(16, 1);
  SequenceManager sm(bm, 4, true);
  Sequence a = make_seq(1, iota(10));
  EXPECT_EQ(sm.match_prefix(a), 0);
  ASSERT_TRUE(sm.reserve(a, 10));
  sm.commit(a, 10);  // blocks 0, 1 full and indexed; block 2 partial
  EXPECT_EQ(sm.prefix_index_size(), 2u);

  auto tb = iota(10);
  tb.push_back(77);
  Sequence b = make_seq(2, tb);
  EXPECT_EQ(sm.match_prefix(b), 8);
  EXPECT_EQ(b.blocks[0], a.blocks[0]);
  EXPECT_EQ(b.blocks[1], a.blocks[1]);
  EXPECT_EQ(bm.block(a.blocks[0]).use_count, 2);

  // Same hash chain but a different first block: no hit.
  auto tc = iota(10);
  tc[1] = 99;
  Sequence c = make_seq(3, tc);
  EXPECT_EQ(sm.match_prefix(c), 0);

  // Exactly 8 tokens: the last one must be recomputed, so only block 0 is shared.
  Sequence d = make_seq(4, iota(8));
  EXPECT_EQ(sm.match_prefix(d), 4);

  sm.drop(a);
  sm.drop(b);
  sm.drop(c);
  sm.drop(d);
  EXPECT_EQ(bm.counts().active, 0);
  EXPECT_EQ(bm.counts().cached, 2);  // the indexed blocks stay reusable
  Sequence e = make_seq(5, iota(9));
  EXPECT_EQ(sm.match_prefix(e), 8);
  sm.drop(e);
}

}  // namespace
}  // namespace lmd
