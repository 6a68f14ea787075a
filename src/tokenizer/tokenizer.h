// One tokenizer interface for every vocabulary we load:
//   * byte-level BPE (GPT-2 style) from a Hugging Face tokenizer.json or from GGUF metadata
//     (tokenizer.ggml.model == "gpt2");
//   * SentencePiece models (tokenizer.model) through libsentencepiece;
//   * SentencePiece-style vocabularies stored in GGUF metadata (tokenizer.ggml.model ==
//     "llama"), tokenized natively with the score-driven bigram merge llama.cpp uses.
// Ids are int32 (what the engine stores per token). All methods are const and thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace lmd {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Token ids of `text`. add_bos prepends bos_id() (when the vocabulary has one).
  // parse_special: text spelling a control token (e.g. "<|im_start|>") becomes that token;
  // when false it is tokenized as plain text. User-defined added tokens are always matched.
  // Invalid UTF-8 in `text` is replaced by U+FFFD before tokenizing.
  virtual std::vector<int32_t> encode(const std::string& text, bool add_bos,
                                      bool parse_special = true) const = 0;

  // Text of `ids` (out-of-range ids throw lmd::Error naming the id). Special tokens are
  // rendered as their text unless skip_special. Invalid UTF-8 produced by a partial byte
  // sequence is replaced by U+FFFD (one per maximal invalid subpart).
  virtual std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const;

  // The vocabulary entry as stored ("Ġhello", "▁the", "<0x0A>", "<|im_end|>").
  virtual std::string id_to_piece(int32_t id) const = 0;
  virtual int32_t vocab_size() const = 0;
  virtual int32_t bos_id() const = 0;  // -1 when there is none
  virtual int32_t eos_id() const = 0;  // -1 when there is none
  // Control / unknown tokens (what decode(skip_special=true) drops).
  virtual bool is_special(int32_t id) const = 0;
  // Id of a vocabulary entry spelled exactly `piece`; -1 when none.
  virtual int32_t token_to_id(const std::string& piece) const = 0;
  // Whether the model expects a BOS token in front of a prompt.
  virtual bool add_bos_default() const = 0;
  // Short description for logs and `lmdeploy tokenize --info`-like output.
  virtual std::string kind() const = 0;

  // Raw bytes token `id` adds to decoded text (may be a partial UTF-8 sequence). `first`
  // is true for the first token of a text that is not skipped: SentencePiece-style
  // vocabularies drop the space their dummy prefix added there.
  virtual std::string piece_bytes(int32_t id, bool first) const = 0;

 protected:
  void check_id(int32_t id) const;
};

// Loads the tokenizer of `path`, which may be
//   * a .gguf file (full model or vocab-only);
//   * a Hugging Face model / tokenizer directory (tokenizer.json preferred, else
//     tokenizer.model, else tokenizer.gguf);
//   * a TurboMind workspace (a directory holding triton_models/tokenizer/);
//   * a tokenizer.json or tokenizer.model file.
// Throws lmd::Error naming the path and what is missing or unsupported.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);

}  // namespace lmd
