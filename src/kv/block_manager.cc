#include "kv/block_manager.h"

#include "core/error.h"

namespace lmd {

BlockManager::BlockManager(int num_blocks, size_t block_bytes) : block_bytes_(block_bytes) {
  LMD_CHECK(num_blocks > 0) << "KV cache: the pool needs at least one block, got " << num_blocks;
  blocks_.resize(num_blocks);
  free_.reserve(num_blocks);
  for (int i = 0; i < num_blocks; ++i) blocks_[i].id = i;
  // Stack: hand out low ids first (easier to read in logs).
  for (int i = num_blocks - 1; i >= 0; --i) free_.push_back(i);
}

void BlockManager::check_id(int32_t id) const {
  LMD_CHECK_KIND(id >= 0 && id < static_cast<int32_t>(blocks_.size()), kInternal)
      << "KV block id " << id << " out of range [0, " << blocks_.size() << ")";
}

const KvBlock& BlockManager::block(int32_t id) const {
  check_id(id);
  return blocks_[id];
}

bool BlockManager::cached_set_contains(int32_t id) const {
  return cached_.count({blocks_[id].timestamp, id}) != 0;
}

bool BlockManager::is_valid(int32_t id, uint64_t unique_id) const {
  check_id(id);
  const KvBlock& b = blocks_[id];
  if (b.unique_id != unique_id) return false;
  return b.use_count > 0 || cached_set_contains(id);
}

bool BlockManager::allocate(int n, std::vector<int32_t>* out) {
  if (n <= 0) return true;
  if (available() < n) return false;
  for (int i = 0; i < n; ++i) {
    int32_t id;
    if (!free_.empty()) {
      id = free_.back();
      free_.pop_back();
    } else {
      auto oldest = cached_.begin();
      id = oldest->second;
      cached_.erase(oldest);
      if (on_evict_) on_evict_(id);
    }
    KvBlock& b = blocks_[id];
    b.use_count = 1;
    b.unique_id = next_unique_id_++;
    b.timestamp = ++clock_;
    out->push_back(id);
  }
  return true;
}

void BlockManager::retain(int32_t id) {
  check_id(id);
  KvBlock& b = blocks_[id];
  if (b.use_count == 0) {
    LMD_CHECK_KIND(cached_.erase({b.timestamp, id}) == 1, kInternal)
        << "KV block " << id << " retained while FREE";
  }
  ++b.use_count;
}

void BlockManager::release(int32_t id, bool keep_cached) {
  check_id(id);
  KvBlock& b = blocks_[id];
  LMD_CHECK_KIND(b.use_count > 0, kInternal) << "KV block " << id << " released while not active";
  if (--b.use_count > 0) return;
  b.timestamp = ++clock_;
  if (keep_cached) {
    cached_.insert({b.timestamp, id});
  } else {
    if (on_evict_) on_evict_(id);
    free_.push_back(id);
  }
}

void BlockManager::discard(int32_t id) {
  check_id(id);
  KvBlock& b = blocks_[id];
  if (b.use_count != 0 || cached_.erase({b.timestamp, id}) == 0) return;
  if (on_evict_) on_evict_(id);
  free_.push_back(id);
}

BlockCounts BlockManager::counts() const {
  BlockCounts c;
  c.total = num_blocks();
  c.free = static_cast<int>(free_.size());
  c.cached = static_cast<int>(cached_.size());
  c.active = c.total - c.free - c.cached;
  return c;
}

}  // namespace lmd
