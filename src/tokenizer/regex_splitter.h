// Pre-tokenization by regular expressions (PCRE2, UTF + UCP so \s \p{L} \p{N} are
// Unicode-aware). A splitter is a sequence of steps; each step splits every piece of the
// previous step: matches become pieces and so does the unmatched text between them
// ("isolated" in tokenizers' terms), or matches are dropped ("removed").
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace lmd {

// Patterns the BPE vocabularies we know use.
extern const char* const kGpt2Pattern;    // GPT-2 / ByteLevel(use_regex)
extern const char* const kLlama3Pattern;  // Llama-3 ("llama-bpe")
extern const char* const kQwen2Pattern;   // Qwen2
extern const char* const kDigitPattern;   // \p{N}: every digit on its own

class RegexSplitter {
 public:
  enum class Behavior { kIsolated, kRemoved };

  RegexSplitter();
  ~RegexSplitter();
  RegexSplitter(RegexSplitter&&) noexcept;
  RegexSplitter& operator=(RegexSplitter&&) noexcept;

  // Throws lmd::Error quoting the pattern and PCRE2's message when it does not compile.
  void add_step(const std::string& pattern, Behavior behavior = Behavior::kIsolated);
  size_t num_steps() const;

  // Pieces of `text` (valid UTF-8), in order; concatenated they give back `text` unless a
  // step removes matches.
  std::vector<std::string> split(const std::string& text) const;

 private:
  struct Step;
  std::vector<std::unique_ptr<Step>> steps_;
};

}  // namespace lmd
