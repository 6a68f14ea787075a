#include "tokenizer/bpe_tokenizer.h"

#include <queue>

#include "core/error.h"
#include "common/logging.h"
#include "common/utf8.h"

namespace lmd {
namespace {

constexpr size_t kCacheLimit = 1 << 16;

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

}  // namespace

BpeTokenizer::BpeTokenizer(BpeVocab vocab) : VocabTokenizer(std::move(vocab), "BPE vocabulary") {
  size_t skipped = 0;
  merges_.reserve(vocab_.merges.size());
  for (size_t r = 0; r < vocab_.merges.size(); ++r) {
    const auto& [a, b] = vocab_.merges[r];
    auto ia = piece_to_id_.find(a), ib = piece_to_id_.find(b), iab = piece_to_id_.find(a + b);
    if (ia == piece_to_id_.end() || ib == piece_to_id_.end() || iab == piece_to_id_.end()) {
      ++skipped;
      continue;
    }
    merges_.emplace(pair_key(ia->second, ib->second), MergeTarget{static_cast<int32_t>(r), iab->second});
  }
  if (skipped) LMD_LOG_WARN("{}: {} merges name pieces missing from the vocabulary; ignored", vocab_.source, skipped);
  vocab_.merges.clear();
  vocab_.merges.shrink_to_fit();
}

std::vector<int32_t> BpeTokenizer::encode(const std::string& raw, bool add_bos, bool parse_special) const {
  const std::string text = utf8::is_valid(raw) ? raw : utf8::sanitize(raw);
  std::vector<int32_t> out;
  if (add_bos && vocab_.bos_id >= 0) out.push_back(vocab_.bos_id);
  for (const TextFragment& frag : specials_.split(text, parse_special)) {
    if (frag.token >= 0) {
      out.push_back(frag.token);
      continue;
    }
    const std::string& body = frag.text;
    const std::string prefixed = (vocab_.add_prefix_space && body[0] != ' ') ? " " + body : std::string();
    const std::string& input = prefixed.empty() ? body : prefixed;
    if (vocab_.splitter.num_steps() == 0) {
      encode_pretoken(input, out);
    } else {
      for (const std::string& piece : vocab_.splitter.split(input)) encode_pretoken(piece, out);
    }
  }
  return out;
}

void BpeTokenizer::encode_pretoken(const std::string& piece, std::vector<int32_t>& out) const {
  if (piece.empty()) return;
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = cache_.find(piece);
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::string encoded;
  encoded.reserve(piece.size() * 2);
  for (char c : piece) encoded += utf8::byte_to_unicode(static_cast<uint8_t>(c));
  std::vector<int32_t> ids = merge(encoded);
  out.insert(out.end(), ids.begin(), ids.end());
  std::lock_guard<std::mutex> lock(cache_mutex_);
  if (cache_.size() >= kCacheLimit) cache_.clear();
  cache_.emplace(piece, std::move(ids));
}

std::vector<int32_t> BpeTokenizer::merge(const std::string& encoded) const {
  if (vocab_.ignore_merges) {
    auto it = piece_to_id_.find(encoded);
    if (it != piece_to_id_.end()) return {it->second};
  }
  // Symbols form a linked list over the characters; -1 marks a piece missing from the
  // vocabulary (it never merges and becomes the unknown token).
  const std::vector<std::string> chars = utf8::split_chars(encoded);
  const int n = static_cast<int>(chars.size());
  std::vector<int32_t> sym(n);
  std::vector<int> prev(n), next(n);
  for (int i = 0; i < n; ++i) {
    auto it = piece_to_id_.find(chars[i]);
    sym[i] = it == piece_to_id_.end() ? -1 : it->second;
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  struct Candidate {
    int32_t rank;
    int left;
    int32_t left_id, right_id;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  auto consider = [&](int left) {
    if (left < 0 || next[left] < 0) return;
    const int right = next[left];
    if (sym[left] < 0 || sym[right] < 0) return;
    auto it = merges_.find(pair_key(sym[left], sym[right]));
    if (it != merges_.end()) queue.push({it->second.rank, left, sym[left], sym[right]});
  };
  for (int i = 0; i + 1 < n; ++i) consider(i);
  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    const int right = next[c.left];
    // Stale entries: one side already merged into something else.
    if (sym[c.left] != c.left_id || right < 0 || sym[right] != c.right_id) continue;
    sym[c.left] = merges_.at(pair_key(c.left_id, c.right_id)).id;
    sym[right] = -2;  // dead
    next[c.left] = next[right];
    if (next[right] >= 0) prev[next[right]] = c.left;
    consider(prev[c.left]);
    consider(c.left);
  }
  std::vector<int32_t> ids;
  for (int i = 0; i >= 0 && i < n; i = next[i]) {
    if (sym[i] >= 0) {
      ids.push_back(sym[i]);
    } else if (vocab_.unk_id >= 0) {
      ids.push_back(vocab_.unk_id);
    }
  }
  return ids;
}

std::string BpeTokenizer::piece_bytes(int32_t id, bool /*first*/) const {
  check_id(id);
  const std::string& piece = vocab_.tokens[id];
  // Added / special tokens are stored as plain text; only merged pieces are byte-mapped.
  if (vocab_.types[id] == TokenType::kNormal) return utf8::unicode_to_bytes(piece);
  return piece;
}

}  // namespace lmd
