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

#include "tokenizer/vocab_tokenizer.h"

namespace lmd {

struct SpmVocab : VocabBase {
  SpmVocab() { add_bos = true; }
  std::vector<float> scores;  // id -> merge priority (higher first)
  bool add_space_prefix = true;
};

class SpmTokenizer : public VocabTokenizer<SpmVocab> {
 public:
  explicit SpmTokenizer(SpmVocab vocab);

  std::vector<int32_t> encode(const std::string& text, bool add_bos, bool parse_special = true) const override;
  std::string kind() const override { return "SentencePiece vocabulary (" + vocab_.source + ")"; }
  std::string piece_bytes(int32_t id, bool first) const override;

 private:
  void encode_fragment(const std::string& escaped, std::vector<int32_t>& out) const;

  std::array<int32_t, 256> byte_tokens_;  // <0xXX> ids, -1 when absent
};

}  // namespace lmd
