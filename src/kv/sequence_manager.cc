#include "kv/sequence_manager.h"

#include <algorithm>

#include "core/error.h"

namespace lmd {

namespace {
// splitmix64 finaliser: cheap, well-mixed 64-bit hash steps.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
constexpr uint64_t kRootHash = 0x6c6d6465706c6f79ULL;  // "lmdeploy"
}  // namespace

SequenceManager::SequenceManager(BlockManager& blocks, int block_len, bool prefix_caching)
    : bm_(blocks), block_len_(block_len), prefix_caching_(prefix_caching) {
  LMD_CHECK(block_len > 0) << "cache_block_seq_len must be > 0, got " << block_len;
  bm_.set_evict_callback([this](int32_t id) { forget_block(id); });
}

uint64_t SequenceManager::block_hash(uint64_t parent, const int32_t* tokens) const {
  uint64_t h = mix(parent);
  for (int i = 0; i < block_len_; ++i) h = mix(h ^ static_cast<uint32_t>(tokens[i]));
  return h;
}

void SequenceManager::forget_block(int32_t id) {
  auto it = block_to_hash_.find(id);
  if (it == block_to_hash_.end()) return;
  index_.erase(it->second);
  block_to_hash_.erase(it);
}

int SequenceManager::lock(Sequence& seq) {
  LMD_CHECK_KIND(!seq.locked, kInternal) << "sequence of session " << seq.session_id << " locked twice";
  size_t kept = 0;
  while (kept < seq.blocks.size() && bm_.is_valid(seq.blocks[kept], seq.block_uids[kept])) {
    bm_.retain(seq.blocks[kept]);
    ++kept;
  }
  // Blocks after the first evicted one are useless (their positions follow a gap): give
  // back the ones still cached for us rather than leave them to LRU.
  for (size_t i = kept; i < seq.blocks.size(); ++i) {
    if (bm_.is_valid(seq.blocks[i], seq.block_uids[i]) && !block_to_hash_.count(seq.blocks[i]))
      bm_.discard(seq.blocks[i]);
  }
  seq.blocks.resize(kept);
  seq.block_uids.resize(kept);
  const int before = seq.kv_len;
  seq.kv_len = std::min<int>(seq.kv_len, static_cast<int>(kept) * block_len_);
  // The last token must always be computed: it gives the logits of the next one.
  seq.kv_len = std::min<int>(seq.kv_len, std::max<int>(0, static_cast<int>(seq.tokens.size()) - 1));
  seq.block_hashes.resize(std::min<size_t>(seq.block_hashes.size(), seq.kv_len / block_len_));
  seq.locked = true;
  return before - seq.kv_len;
}

void SequenceManager::unlock(Sequence& seq) {
  if (!seq.locked) return;
  for (int32_t id : seq.blocks) bm_.release(id, /*keep_cached=*/true);
  seq.locked = false;
}

void SequenceManager::drop(Sequence& seq) {
  for (size_t i = 0; i < seq.blocks.size(); ++i) {
    const int32_t id = seq.blocks[i];
    const bool indexed = block_to_hash_.count(id) != 0;  // others may reuse it: keep cached
    if (seq.locked) {
      bm_.release(id, /*keep_cached=*/indexed);
    } else if (!indexed && bm_.is_valid(id, seq.block_uids[i])) {
      bm_.discard(id);
    }
  }
  seq.locked = false;
  seq.blocks.clear();
  seq.block_uids.clear();
  seq.block_hashes.clear();
  seq.kv_len = 0;
}

int SequenceManager::match_prefix(Sequence& seq) {
  LMD_CHECK_KIND(seq.blocks.empty() && seq.kv_len == 0, kInternal)
      << "match_prefix on a sequence that already has KV (session " << seq.session_id << ")";
  seq.locked = true;
  if (!prefix_caching_) return 0;
  const int n = static_cast<int>(seq.tokens.size());
  // Stop before the last token: it must be recomputed.
  const int max_blocks = std::max(0, n - 1) / block_len_;
  prefix_stats_.query_tokens += n;
  uint64_t parent_hash = kRootHash;
  int32_t parent_block = -1;
  uint64_t parent_uid = 0;
  for (int b = 0; b < max_blocks; ++b) {
    const int32_t* toks = seq.tokens.data() + static_cast<size_t>(b) * block_len_;
    const uint64_t h = block_hash(parent_hash, toks);
    auto it = index_.find(h);
    if (it == index_.end()) break;
    const Entry& e = it->second;
    if (e.parent_block != parent_block || e.parent_unique_id != parent_uid) break;
    if (!std::equal(e.tokens.begin(), e.tokens.end(), toks)) break;
    if (!bm_.is_valid(e.block, e.unique_id)) break;
    bm_.retain(e.block);
    seq.blocks.push_back(e.block);
    seq.block_uids.push_back(e.unique_id);
    seq.block_hashes.push_back(h);
    parent_hash = h;
    parent_block = e.block;
    parent_uid = e.unique_id;
  }
  seq.kv_len = static_cast<int>(seq.blocks.size()) * block_len_;
  prefix_stats_.hit_tokens += seq.kv_len;
  return seq.kv_len;
}

int SequenceManager::blocks_needed(const Sequence& seq, int n_positions) const {
  const int need = (n_positions + block_len_ - 1) / block_len_;
  return std::max(0, need - static_cast<int>(seq.blocks.size()));
}

bool SequenceManager::reserve(Sequence& seq, int n_positions) {
  LMD_CHECK_KIND(seq.locked, kInternal) << "reserve on an unlocked sequence (session " << seq.session_id << ")";
  const int n = blocks_needed(seq, n_positions);
  if (n == 0) return true;
  std::vector<int32_t> fresh;
  if (!bm_.allocate(n, &fresh)) return false;
  for (int32_t id : fresh) {
    seq.blocks.push_back(id);
    seq.block_uids.push_back(bm_.block(id).unique_id);
  }
  return true;
}

void SequenceManager::commit(Sequence& seq, int new_kv_len) {
  LMD_CHECK_KIND(new_kv_len <= static_cast<int>(seq.blocks.size()) * block_len_, kInternal)
      << "commit past the block table (session " << seq.session_id << ")";
  seq.kv_len = new_kv_len;
  if (!prefix_caching_) return;
  const int full = new_kv_len / block_len_;
  for (int b = static_cast<int>(seq.block_hashes.size()); b < full; ++b) {
    const uint64_t parent = b == 0 ? kRootHash : seq.block_hashes[b - 1];
    const int32_t* toks = seq.tokens.data() + static_cast<size_t>(b) * block_len_;
    const uint64_t h = block_hash(parent, toks);
    seq.block_hashes.push_back(h);
    const int32_t id = seq.blocks[b];
    if (index_.count(h) || block_to_hash_.count(id)) continue;  // someone indexed it first
    Entry e;
    e.block = id;
    e.unique_id = seq.block_uids[b];
    if (b > 0) {
      e.parent_block = seq.blocks[b - 1];
      e.parent_unique_id = seq.block_uids[b - 1];
    }
    e.tokens.assign(toks, toks + block_len_);
    index_.emplace(h, std::move(e));
    block_to_hash_.emplace(id, h);
  }
}

}  // namespace lmd
