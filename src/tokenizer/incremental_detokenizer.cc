#include "tokenizer/incremental_detokenizer.h"

#include "tokenizer/utf8.h"

namespace lmd {

std::string IncrementalDetokenizer::push(int32_t id) {
  if (skip_special_ && tokenizer_.is_special(id)) return {};
  pending_ += tokenizer_.piece_bytes(id, first_);
  first_ = false;
  size_t tail = 0;
  std::string out = utf8::sanitize(pending_, /*keep_incomplete_tail=*/true, &tail);
  pending_.erase(0, pending_.size() - tail);
  return out;
}

std::string IncrementalDetokenizer::flush() {
  std::string out = utf8::sanitize(pending_);
  pending_.clear();
  first_ = true;
  return out;
}

}  // namespace lmd
