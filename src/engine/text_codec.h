// What the engine needs of a tokenizer: ids <-> text. The engine only decodes (to stream
// text and match stop strings); encode is for callers of Engine::encode. Implemented over
// lmd::Tokenizer in src/loader/engine_loader.cc and by test doubles.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lmd {

class TextCodec {
 public:
  virtual ~TextCodec() = default;
  virtual std::vector<int32_t> encode(const std::string& text, bool add_bos) const = 0;
  // Text of `ids`; special tokens (bos/eos/...) render as nothing.
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;
  virtual int32_t eos_id() const = 0;
  // Id of a token piece (e.g. "<|im_end|>"), -1 when unknown.
  virtual int32_t token_id(const std::string& piece) const = 0;
};

}  // namespace lmd
