// Kinds of vocabulary entries. Values are those of GGUF's tokenizer.ggml.token_type and of
// SentencePiece's ModelProto.SentencePiece.Type, so both map over unchanged.
#pragma once

#include <cstdint>

namespace lmd {

enum class TokenType : uint8_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,      // <s>, <|im_end|>: special; matched in text only with parse_special
  kUserDefined = 4,  // added tokens that are not special: always matched in text
  kUnused = 5,
  kByte = 6,         // <0x0A>: one raw byte (SentencePiece byte fallback)
};

inline bool is_special_type(TokenType t) { return t == TokenType::kControl || t == TokenType::kUnknown; }

}  // namespace lmd
