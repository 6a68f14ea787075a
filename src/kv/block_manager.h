// Book-keeping of the KV block pool (the memory itself belongs to the model's backend,
// see Model::kv_block). Owned by the engine thread: no locks.
//
// Block state machine (TurboMind's):
//
//            allocate()                    release() -> use_count == 0
//   FREE  --------------->  ACTIVE  ---------------------------------->  CACHED
//    ^                     (use_count > 0)  <---------------------------  (use_count 0,
//    |                        ^   |              retain() (lock again)     contents valid,
//    |                        |   | release(id, /*keep=*/false)            LRU by timestamp)
//    |                        |   v  and use_count == 0                        |
//    +------------------------+-- FREE <---------------------------------------+
//                                      discard() (owner ended) or eviction
//                 allocate() evicts the least recently used CACHED block when
//                 FREE is empty; the evict callback tells the prefix cache.
//
// Every allocation gives the block a new unique_id. A sequence remembers (id, unique_id)
// of each of its blocks: after its blocks were released to CACHED (idle session between
// turns, preempted sequence) it can take them back with retain() as long as unique_id is
// unchanged, i.e. nobody evicted and re-allocated them meanwhile.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <set>
#include <utility>
#include <vector>

namespace lmd {

struct KvBlock {
  int32_t id = 0;
  int32_t use_count = 0;
  uint64_t unique_id = 0;  // changes at every allocation; 0 = never allocated
  uint64_t timestamp = 0;  // last release (LRU key of cached blocks)
};

struct BlockCounts {
  int total = 0;
  int free = 0;
  int active = 0;
  int cached = 0;
};

class BlockManager {
 public:
  BlockManager(int num_blocks, size_t block_bytes);

  // Called with a block id just before a CACHED block is evicted (reused for new data)
  // or a released block goes back to FREE, so indexes of its contents can forget it.
  void set_evict_callback(std::function<void(int32_t)> cb) { on_evict_ = std::move(cb); }

  // Blocks that allocate() could hand out right now (free + cached).
  int available() const { return static_cast<int>(free_.size() + cached_.size()); }
  // `n` new ACTIVE blocks (use_count 1, new unique_id) appended to `out`; evicts LRU
  // cached blocks when the free list is short. Returns false and changes nothing when
  // fewer than `n` are available.
  bool allocate(int n, std::vector<int32_t>* out);
  // ACTIVE: use_count + 1; CACHED: back to ACTIVE. The caller checked unique_id.
  void retain(int32_t id);
  // use_count - 1; at 0 the block becomes CACHED (keep_cached) or FREE.
  void release(int32_t id, bool keep_cached = true);
  // CACHED -> FREE (its owner forgot it). No-op for ACTIVE or FREE blocks.
  void discard(int32_t id);

  const KvBlock& block(int32_t id) const;
  bool is_valid(int32_t id, uint64_t unique_id) const;

  BlockCounts counts() const;
  int num_blocks() const { return static_cast<int>(blocks_.size()); }
  size_t block_bytes() const { return block_bytes_; }
  size_t pool_bytes() const { return block_bytes_ * blocks_.size(); }

 private:
  bool cached_set_contains(int32_t id) const;
  void check_id(int32_t id) const;

  std::vector<KvBlock> blocks_;
  std::vector<int32_t> free_;                       // stack of FREE ids
  std::set<std::pair<uint64_t, int32_t>> cached_;   // (timestamp, id), oldest first
  uint64_t next_unique_id_ = 1;
  uint64_t clock_ = 0;
  size_t block_bytes_ = 0;
  std::function<void(int32_t)> on_evict_;
};

}  // namespace lmd
