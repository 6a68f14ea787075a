#include "kv/block_manager.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace lmd {
namespace {

TEST(BlockManagerTest, StateMachineAndAccounting) {
  BlockManager bm(4, 100);
  EXPECT_EQ(bm.pool_bytes(), 400u);
  std::vector<int32_t> a;
  ASSERT_TRUE(bm.allocate(3, &a));
  EXPECT_EQ(bm.counts().active, 3);
  EXPECT_EQ(bm.counts().free, 1);
  const uint64_t uid0 = bm.block(a[0]).unique_id;
  bm.retain(a[0]);  // shared
  bm.release(a[0]);
  EXPECT_EQ(bm.counts().active, 3);
  bm.release(a[0]);  // -> cached
  EXPECT_EQ(bm.counts().cached, 1);
  EXPECT_TRUE(bm.is_valid(a[0], uid0));
  bm.retain(a[0]);  // cached -> active again
  EXPECT_EQ(bm.counts().active, 3);
  EXPECT_EQ(bm.counts().cached, 0);
  bm.release(a[1], /*keep_cached=*/false);  // -> free
  EXPECT_EQ(bm.counts().free, 2);
  std::vector<int32_t> none;
  EXPECT_FALSE(bm.allocate(3, &none));  // only 2 available: nothing changes
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(bm.counts().free, 2);
  EXPECT_THROW(bm.release(a[1]), Error);  // not active
}

TEST(BlockManagerTest, EvictsLeastRecentlyUsedCached) {
  BlockManager bm(3, 1);
  std::vector<int32_t> evicted;
  bm.set_evict_callback([&](int32_t id) { evicted.push_back(id); });
  std::vector<int32_t> ids;
  ASSERT_TRUE(bm.allocate(3, &ids));
  const uint64_t uid2 = bm.block(ids[2]).unique_id;
  bm.release(ids[2]);  // oldest cached
  bm.release(ids[0]);
  bm.release(ids[1]);
  std::vector<int32_t> fresh;
  ASSERT_TRUE(bm.allocate(1, &fresh));
  EXPECT_EQ(fresh[0], ids[2]);
  EXPECT_EQ(evicted, (std::vector<int32_t>{ids[2]}));
  EXPECT_FALSE(bm.is_valid(ids[2], uid2));  // new unique_id: the old owner sees it is gone
  EXPECT_EQ(bm.counts().cached, 2);
  bm.discard(ids[0]);
  EXPECT_EQ(bm.counts().free, 1);
  EXPECT_EQ(bm.counts().cached, 1);
}

}  // namespace
}  // namespace lmd
