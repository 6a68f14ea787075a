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
#include "tokenizer/special_tokens.h"
#include "tokenizer/token_type.h"
#include "tokenizer/tokenizer.h"

namespace lmd {

struct BpeVocab {
  std::vector<std::string> tokens;  // id -> piece; normal pieces are byte-level encoded
  std::vector<TokenType> types;     // id -> kind (same size as tokens)
  std::vector<std::pair<std::string, std::string>> merges;  // in rank order
  RegexSplitter splitter;           // no steps: the whole fragment is one pre-token
  bool ignore_merges = false;       // a pre-token that is itself a token is not merged
  bool add_prefix_space = false;    // ByteLevel(add_prefix_space): " " before each fragment
  int32_t bos_id = -1, eos_id = -1, unk_id = -1;
  bool add_bos = false;
  std::string source;  // for kind(): "gguf gpt2/smollm", "tokenizer.json"
};

class BpeTokenizer : public Tokenizer {
 public:
  // Validates the vocabulary (sizes, ids in range); merges naming unknown pieces are
  // skipped with a warning count, as they can never fire.
  explicit BpeTokenizer(BpeVocab vocab);

  std::vector<int32_t> encode(const std::string& text, bool add_bos, bool parse_special = true) const override;
  std::string id_to_piece(int32_t id) const override;
  int32_t vocab_size() const override { return static_cast<int32_t>(vocab_.tokens.size()); }
  int32_t bos_id() const override { return vocab_.bos_id; }
  int32_t eos_id() const override { return vocab_.eos_id; }
  bool is_special(int32_t id) const override;
  int32_t token_to_id(const std::string& piece) const override;
  bool add_bos_default() const override { return vocab_.add_bos; }
  std::string kind() const override { return "byte-level BPE (" + vocab_.source + ")"; }
  std::string piece_bytes(int32_t id, bool first) const override;

 private:
  void encode_pretoken(const std::string& piece, std::vector<int32_t>& out) const;
  std::vector<int32_t> merge(const std::string& encoded) const;

  struct MergeTarget {
    int32_t rank;
    int32_t id;
  };
  BpeVocab vocab_;
  std::unordered_map<std::string, int32_t> piece_to_id_;
  std::unordered_map<uint64_t, MergeTarget> merges_;  // (left id << 32 | right id)
  SpecialTokenMatcher specials_;

  // Pre-token -> ids. Real text repeats words a lot; bounded by clearing when full.
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace lmd
