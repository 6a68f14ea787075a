// A SentencePiece model file (tokenizer.model) tokenized by libsentencepiece. Control
// tokens spelled in the text (<s>, </s>) are split out first when parse_special is true;
// each remaining fragment gets SentencePiece's own normalisation and dummy prefix.
#pragma once

#include <memory>
#include <string>

#include "tokenizer/special_tokens.h"
#include "tokenizer/tokenizer.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace lmd {

class SentencePieceTokenizer : public Tokenizer {
 public:
  // add_bos: the model's default (Llama-style models want BOS; tokenizer_config.json may
  // say otherwise). Throws lmd::Error naming `path` when it is not a SentencePiece model.
  SentencePieceTokenizer(const std::string& path, bool add_bos);
  ~SentencePieceTokenizer() override;

  std::vector<int32_t> encode(const std::string& text, bool add_bos, bool parse_special = true) const override;
  std::string id_to_piece(int32_t id) const override;
  int32_t vocab_size() const override;
  int32_t bos_id() const override;
  int32_t eos_id() const override;
  bool is_special(int32_t id) const override;
  int32_t token_to_id(const std::string& piece) const override;
  bool add_bos_default() const override { return add_bos_; }
  std::string kind() const override { return "SentencePiece model (" + path_ + ")"; }
  std::string piece_bytes(int32_t id, bool first) const override;

 private:
  std::string path_;
  bool add_bos_;
  bool strips_dummy_prefix_ = true;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  SpecialTokenMatcher specials_;
};

}  // namespace lmd
