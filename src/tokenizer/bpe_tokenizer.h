// Byte-level BPE (GPT-2 style): text -> added/special token split -> regex pre-tokens ->
// bytes mapped to printable codepoints -> merges applied lowest rank first (leftmost on
// ties) -> vocabulary ids. Built from tokenizer.json (hf_tokenizer_json.cc) or from GGUF
// metadata (gguf_vocab.cc).
#pragma once

#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tokenizer/regex_splitter.h"
#include "tokenizer/vocab_tokenizer.h"

namespace lmd {

// tokens: normal pieces are byte-level encoded; source: "gguf gpt2/smollm", "tokenizer.json"
struct BpeVocab : VocabBase {
  std::vector<std::pair<std::string, std::string>> merges;  // in rank order
  RegexSplitter splitter;           // no steps: the whole fragment is one pre-token
  bool ignore_merges = false;       // a pre-token that is itself a token is not merged
  bool add_prefix_space = false;    // ByteLevel(add_prefix_space): " " before each fragment
};

class BpeTokenizer : public VocabTokenizer<BpeVocab> {
 public:
  // Validates the vocabulary (sizes, ids in range); merges naming unknown pieces are
  // skipped with a warning count, as they can never fire.
  explicit BpeTokenizer(BpeVocab vocab);

  std::vector<int32_t> encode(const std::string& text, bool add_bos, bool parse_special = true) const override;
  std::string kind() const override { return "byte-level BPE (" + vocab_.source + ")"; }
  std::string piece_bytes(int32_t id, bool first) const override;

 private:
  void encode_pretoken(const std::string& piece, std::vector<int32_t>& out) const;
  std::vector<int32_t> merge(const std::string& encoded) const;

  struct MergeTarget {
    int32_t rank;
    int32_t id;
  };
  std::unordered_map<uint64_t, MergeTarget> merges_;  // (left id << 32 | right id)

  // Pre-token -> ids. Real text repeats words a lot; bounded by clearing when full.
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace lmd
