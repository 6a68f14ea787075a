// The part the tokenizers that own their vocabulary (byte-level BPE, native SentencePiece)
// share: the id <-> piece tables, token kinds, the bos / eos / unk ids, and the matcher that
// splits special-token text out of the input. Each derived vocabulary struct extends
// VocabBase with what its algorithm needs (merges, scores, ...).
#pragma once

#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/error.h"
#include "tokenizer/special_tokens.h"
#include "tokenizer/token_type.h"
#include "tokenizer/tokenizer.h"

namespace lmd {

struct VocabBase {
  std::vector<std::string> tokens;  // id -> piece
  std::vector<TokenType> types;     // id -> kind (same size as tokens)
  int32_t bos_id = -1, eos_id = -1, unk_id = -1;
  bool add_bos = false;
  std::string source;               // for messages and kind(): "gguf gpt2/smollm", "tokenizer.json"
};

template <typename Vocab>
class VocabTokenizer : public Tokenizer {
 public:
  std::string id_to_piece(int32_t id) const override {
    check_id(id);
    return vocab_.tokens[id];
  }
  int32_t vocab_size() const override { return static_cast<int32_t>(vocab_.tokens.size()); }
  int32_t bos_id() const override { return vocab_.bos_id; }
  int32_t eos_id() const override { return vocab_.eos_id; }
  bool is_special(int32_t id) const override {
    check_id(id);
    return is_special_type(vocab_.types[id]);
  }
  int32_t token_to_id(const std::string& piece) const override {
    auto it = piece_to_id_.find(piece);
    return it == piece_to_id_.end() ? -1 : it->second;
  }
  bool add_bos_default() const override { return vocab_.add_bos; }

 protected:
  // Validates sizes and special ids (messages start with `what`, e.g. "BPE vocabulary"),
  // then indexes pieces (the first spelling of a duplicated piece wins) and registers
  // control / unknown / user-defined tokens with the special-token matcher.
  VocabTokenizer(Vocab vocab, const char* what) : vocab_(std::move(vocab)) {
    const size_t n = vocab_.tokens.size();
    LMD_CHECK(n > 0) << what << " (" << vocab_.source << ") has no tokens";
    LMD_CHECK(vocab_.types.size() == n)
        << what << " (" << vocab_.source << "): " << vocab_.types.size() << " token types for " << n << " tokens";
    for (int32_t id : {vocab_.bos_id, vocab_.eos_id, vocab_.unk_id}) {
      LMD_CHECK(id >= -1 && id < static_cast<int32_t>(n))
          << what << " (" << vocab_.source << "): special token id " << id << " outside [0, " << n << ")";
    }
    piece_to_id_.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      const auto id = static_cast<int32_t>(i);
      piece_to_id_.emplace(vocab_.tokens[i], id);
      const TokenType t = vocab_.types[i];
      if (t == TokenType::kControl || t == TokenType::kUnknown || t == TokenType::kUserDefined)
        specials_.add(id, vocab_.tokens[i], t == TokenType::kUserDefined);
    }
  }

  Vocab vocab_;
  std::unordered_map<std::string, int32_t> piece_to_id_;
  SpecialTokenMatcher specials_;
};

}  // namespace lmd
