// Sequences (one per session) -> block tables, on top of BlockManager; prefix caching.
// Owned by the engine thread: no locks.
//
// A Sequence's tokens are its whole history (every turn's prompt and answer). Its KV is
// valid for tokens [0, kv_len); kv_len < tokens.size() whenever it runs, because the last
// sampled token has no KV yet (so at least one token is always recomputed and gives the
// logits of the next one).
//
// Lifetime of a sequence's blocks:
//   lock()    take back the blocks it held before (retain while (id, unique_id) is still
//             valid; from the first evicted one on, drop them and shrink kv_len);
//   reserve() allocate blocks so the table covers the next positions;
//   commit()  KV of [0, new_kv_len) is written: full blocks get registered for reuse;
//   unlock()  release every block (ACTIVE -> CACHED): an idle interactive session or a
//             preempted sequence keeps its KV until someone needs the memory;
//   drop()    release for good (session ended): blocks not in the prefix index go FREE.
//
// Prefix caching (enabled by the engine flag): a full block is indexed under
// hash(parent hash, its tokens). A fresh sequence walks its prompt block by block; a hit
// needs the same tokens (compared exactly) and the same parent block (id + unique_id), so
// a hash collision can never hand out wrong KV. The last partial block is never shared and
// the walk stops before the last prompt token.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "kv/block_manager.h"

namespace lmd {

struct Sequence {
  int64_t session_id = 0;
  std::vector<int32_t> tokens;         // whole history
  std::vector<int32_t> blocks;         // block table: position p in blocks[p / block_len]
  std::vector<uint64_t> block_uids;    // unique_id of each block when it was taken
  int kv_len = 0;                      // tokens whose KV is in `blocks`
  bool locked = false;                 // blocks are ACTIVE for this sequence
  std::vector<uint64_t> block_hashes;  // prefix hash of each full block [0, num_hashed)
};

struct PrefixCacheStats {
  int64_t query_tokens = 0;  // prompt tokens looked up
  int64_t hit_tokens = 0;    // of those, served from cached blocks
};

class SequenceManager {
 public:
  SequenceManager(BlockManager& blocks, int block_len, bool prefix_caching);
  SequenceManager(const SequenceManager&) = delete;
  SequenceManager& operator=(const SequenceManager&) = delete;

  int block_len() const { return block_len_; }
  const BlockManager& block_manager() const { return bm_; }
  bool prefix_caching() const { return prefix_caching_; }

  // Tokens of KV lost because blocks were evicted while unlocked.
  int lock(Sequence& seq);
  void unlock(Sequence& seq);
  void drop(Sequence& seq);
  // Fresh sequence (no blocks): reuse indexed blocks for a prefix of its tokens. Returns
  // the number of tokens whose KV is reused (a multiple of block_len). Locks `seq`.
  int match_prefix(Sequence& seq);
  // Blocks to add so the table covers `n_positions` positions.
  int blocks_needed(const Sequence& seq, int n_positions) const;
  // Allocates those blocks; false (nothing changed) when the pool is short.
  bool reserve(Sequence& seq, int n_positions);
  void commit(Sequence& seq, int new_kv_len);

  const PrefixCacheStats& prefix_stats() const { return prefix_stats_; }
  size_t prefix_index_size() const { return index_.size(); }

 private:
  struct Entry {
    int32_t block = 0;
    uint64_t unique_id = 0;
    int32_t parent_block = -1;  // -1 for the first block of a sequence
    uint64_t parent_unique_id = 0;
    std::vector<int32_t> tokens;
  };
  uint64_t block_hash(uint64_t parent, const int32_t* tokens) const;
  void forget_block(int32_t id);

  BlockManager& bm_;
  int block_len_;
  bool prefix_caching_;
  std::unordered_map<uint64_t, Entry> index_;          // prefix hash -> block
  std::unordered_map<int32_t, uint64_t> block_to_hash_;  // indexed block -> its hash
  PrefixCacheStats prefix_stats_;
};

}  // namespace lmd
