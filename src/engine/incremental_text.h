// Streams the text of generated tokens as they come, without re-decoding everything:
// decode a short window [prefix_offset, end) and emit what the newest tokens added
// (the vLLM / HF TGI scheme). Text ending in an incomplete UTF-8 sequence (a byte token
// that is half of a character) is held back until the character completes.
// `context` (the last prompt tokens) is decoded in front so a SentencePiece leading space
// of the first generated token is not lost.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/text_codec.h"

namespace lmd {

class IncrementalText {
 public:
  IncrementalText(const TextCodec& codec, std::vector<int32_t> context);
  std::string push(int32_t token);
  // Whatever is still held back (at the end of generation).
  std::string flush();

 private:
  std::string window_text(size_t from, size_t to) const;

  const TextCodec& codec_;
  std::vector<int32_t> ids_;
  size_t prefix_offset_ = 0;
  size_t read_offset_ = 0;
};

// True when `s` ends inside a UTF-8 character, or with U+FFFD (a decoder's stand-in for
// bytes it could not complete yet).
bool ends_incomplete_utf8(const std::string& s);

}  // namespace lmd
