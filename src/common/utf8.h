// UTF-8 helpers the tokenizers share: codepoint iteration, validation that tells an
// incomplete tail (more bytes may come) from invalid bytes, and the GPT-2 byte <-> unicode
// map of byte-level BPE vocabularies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace lmd::utf8 {

// Length of the valid UTF-8 sequence starting at s[pos], or 0 when the bytes there are
// invalid. *incomplete is set when the bytes are a valid prefix cut by the end of `s`.
size_t sequence_length(const std::string& s, size_t pos, bool* incomplete);

// Replaces every maximal invalid subpart by U+FFFD. When keep_incomplete_tail, a valid
// but unfinished sequence at the very end is left out of the result and its length
// returned in *tail (so a stream can wait for the rest); otherwise it becomes U+FFFD.
std::string sanitize(const std::string& s, bool keep_incomplete_tail = false, size_t* tail = nullptr);
bool is_valid(const std::string& s);

void append_codepoint(std::string& out, uint32_t cp);
// Splits into codepoints' byte strings (input must be valid UTF-8).
std::vector<std::string> split_chars(const std::string& s);

// GPT-2's reversible map from the 256 byte values to printable codepoints.
const std::string& byte_to_unicode(uint8_t b);  // UTF-8 of the mapped codepoint
// Inverse on one token's text; codepoints outside the map are copied through as UTF-8.
std::string unicode_to_bytes(const std::string& token_text);

}  // namespace lmd::utf8
