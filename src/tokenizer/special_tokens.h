// Splits text at the spellings of added / special tokens before the model's own
// tokenization runs. Tokens are tried longest first; each one splits every remaining
// plain-text fragment at all of its (non-overlapping, left to right) occurrences — the
// order llama.cpp uses, which for real vocabularies equals tokenizers' leftmost-longest.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lmd {

struct TextFragment {
  int32_t token = -1;  // >= 0: this fragment is that token
  std::string text;    // plain text when token < 0
};

class SpecialTokenMatcher {
 public:
  // always: matched even when parse_special is false (user-defined added tokens).
  void add(int32_t id, const std::string& text, bool always);
  // Plain-text fragments are never empty.
  std::vector<TextFragment> split(const std::string& text, bool parse_special) const;
  bool empty() const { return entries_.empty(); }

 private:
  struct Entry {
    int32_t id;
    std::string text;
    bool always;
  };
  std::vector<Entry> entries_;  // sorted longest first (stable on insertion order)
};

}  // namespace lmd
