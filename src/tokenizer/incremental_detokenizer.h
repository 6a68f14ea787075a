// Streaming text for generated tokens: push() returns the new text a token completes.
// Bytes of an unfinished UTF-8 sequence (a character split over byte tokens) are held
// back until the sequence completes; invalid bytes become U+FFFD exactly as decode()
// renders them. Invariant: the concatenation of every push() and flush() equals
// tokenizer.decode(all ids, skip_special).
#pragma once

#include <cstdint>
#include <string>

#include "tokenizer/tokenizer.h"

namespace lmd {

class IncrementalDetokenizer {
 public:
  // `tokenizer` must outlive this object.
  explicit IncrementalDetokenizer(const Tokenizer& tokenizer, bool skip_special = false)
      : tokenizer_(tokenizer), skip_special_(skip_special) {}

  std::string push(int32_t id);
  // Whatever is still held back (an unfinished sequence becomes U+FFFD); resets to the
  // start state, so the object can be reused for a new text.
  std::string flush();
  // Bytes waiting for the rest of their UTF-8 sequence.
  size_t pending_bytes() const { return pending_.size(); }

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_;
  bool first_ = true;
  std::string pending_;
};

}  // namespace lmd
