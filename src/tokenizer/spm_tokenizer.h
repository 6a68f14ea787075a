// SentencePiece-style vocabulary tokenized natively (GGUF tokenizer.ggml.model == "llama"):
// spaces become U+2581 ("▁"), a "▁" is prepended to each text fragment (dummy prefix),
// then adjacent symbols (starting from single characters) are merged while their
// concatenation is a vocabulary piece, highest score first (leftmost on ties); characters
// that are not pieces fall back to <0xXX> byte tokens. This is SentencePiece's BPE encoding
// as llama.cpp performs it; the tests check it against libsentencepiece.
#pragma once

#include <array>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/special_tokens.h"
#include "tokenizer/token_type.h"
#include "tokenizer/tokenizer.h"

namespace lmd {

struct SpmVocab {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<TokenType> types;
  int32_t bos_id = -1, eos_id = -1, unk_id = -1;
  bool add_bos = true;
  bool add_space_prefix = true;
  std::string source;
};

class SpmTokenizer : public Tokenizer {
 public:
  explicit SpmTokenizer(SpmVocab vocab);

  std::vector<int32_t> encode(const std::string& text, bool add_bos, bool parse_special = true) const override;
  std::string id_to_piece(int32_t id) const override;
  int32_t vocab_size() const override { return static_cast<int32_t>(vocab_.tokens.size()); }
  int32_t bos_id() const override { return vocab_.bos_id; }
  int32_t eos_id() const override { return vocab_.eos_id; }
  bool is_special(int32_t id) const override;
  int32_t token_to_id(const std::string& piece) const override;
  bool add_bos_default() const override { return vocab_.add_bos; }
  std::string kind() const override { return "SentencePiece vocabulary (" + vocab_.source + ")"; }
  std::string piece_bytes(int32_t id, bool first) const override;

 private:
  void encode_fragment(const std::string& escaped, std::vector<int32_t>& out) const;

  SpmVocab vocab_;
  std::unordered_map<std::string, int32_t> piece_to_id_;
  std::array<int32_t, 256> byte_tokens_;  // <0xXX> ids, -1 when absent
  SpecialTokenMatcher specials_;
};

}  // namespace lmd
