#include "common/utf8.h"

#include <array>

namespace lmd::utf8 {
namespace {

// Bounds of the second byte for each lead byte (Unicode Table 3-7, well-formed UTF-8).
struct Lead {
  int len;  // total length, 0 for a byte that never starts a sequence
  uint8_t lo, hi;
};

Lead lead_info(uint8_t b) {
  if (b < 0x80) return {1, 0, 0};
  if (b >= 0xC2 && b <= 0xDF) return {2, 0x80, 0xBF};
  if (b == 0xE0) return {3, 0xA0, 0xBF};
  if (b == 0xED) return {3, 0x80, 0x9F};
  if (b >= 0xE1 && b <= 0xEF) return {3, 0x80, 0xBF};
  if (b == 0xF0) return {4, 0x90, 0xBF};
  if (b >= 0xF1 && b <= 0xF3) return {4, 0x80, 0xBF};
  if (b == 0xF4) return {4, 0x80, 0x8F};
  return {0, 0, 0};
}

// Valid length, or 0 with *bad = length of the maximal invalid subpart (>= 1).
size_t scan(const std::string& s, size_t pos, bool* incomplete, size_t* bad) {
  *incomplete = false;
  *bad = 1;
  const auto b0 = static_cast<uint8_t>(s[pos]);
  const Lead l = lead_info(b0);
  if (l.len == 0) return 0;
  if (l.len == 1) return 1;
  size_t i = 1;
  for (; i < static_cast<size_t>(l.len); ++i) {
    if (pos + i >= s.size()) {
      *incomplete = true;
      *bad = i;
      return 0;
    }
    const auto b = static_cast<uint8_t>(s[pos + i]);
    const uint8_t lo = i == 1 ? l.lo : 0x80, hi = i == 1 ? l.hi : 0xBF;
    if (b < lo || b > hi) {
      *bad = i;
      return 0;
    }
  }
  return i;
}

const char kReplacement[] = "\xEF\xBF\xBD";

struct ByteMap {
  std::array<std::string, 256> to_unicode;
  std::array<int, 0x200> from_codepoint;  // all mapped codepoints are < 0x144
  ByteMap() {
    from_codepoint.fill(-1);
    int extra = 0;
    for (int b = 0; b < 256; ++b) {
      // Printable Latin-1 bytes map to themselves, the rest to 256 + n in byte order.
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      const uint32_t cp = printable ? static_cast<uint32_t>(b) : 256u + extra++;
      append_codepoint(to_unicode[b], cp);
      from_codepoint[cp] = b;
    }
  }
};

const ByteMap& byte_map() {
  static const ByteMap m;
  return m;
}

}  // namespace

size_t sequence_length(const std::string& s, size_t pos, bool* incomplete) {
  size_t bad = 0;
  return scan(s, pos, incomplete, &bad);
}

std::string sanitize(const std::string& s, bool keep_incomplete_tail, size_t* tail) {
  std::string out;
  out.reserve(s.size());
  if (tail) *tail = 0;
  size_t pos = 0;
  while (pos < s.size()) {
    bool incomplete = false;
    size_t bad = 0;
    const size_t n = scan(s, pos, &incomplete, &bad);
    if (n > 0) {
      out.append(s, pos, n);
      pos += n;
      continue;
    }
    if (incomplete && keep_incomplete_tail) {
      if (tail) *tail = s.size() - pos;
      break;
    }
    out += kReplacement;
    pos += bad;
  }
  return out;
}

bool is_valid(const std::string& s) {
  size_t pos = 0;
  while (pos < s.size()) {
    bool incomplete = false;
    const size_t n = sequence_length(s, pos, &incomplete);
    if (n == 0) return false;
    pos += n;
  }
  return true;
}

void append_codepoint(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::vector<std::string> split_chars(const std::string& s) {
  std::vector<std::string> chars;
  size_t pos = 0;
  while (pos < s.size()) {
    bool incomplete = false;
    size_t n = sequence_length(s, pos, &incomplete);
    if (n == 0) n = 1;  // callers pass valid UTF-8; never loop forever on bad input
    chars.emplace_back(s, pos, n);
    pos += n;
  }
  return chars;
}

const std::string& byte_to_unicode(uint8_t b) { return byte_map().to_unicode[b]; }

std::string unicode_to_bytes(const std::string& token_text) {
  const ByteMap& m = byte_map();
  std::string out;
  size_t pos = 0;
  while (pos < token_text.size()) {
    bool incomplete = false;
    size_t n = sequence_length(token_text, pos, &incomplete);
    if (n == 0) n = 1;
    uint32_t cp = 0;
    const auto b0 = static_cast<uint8_t>(token_text[pos]);
    if (n == 1) {
      cp = b0;
    } else if (n == 2) {
      cp = ((b0 & 0x1Fu) << 6) | (static_cast<uint8_t>(token_text[pos + 1]) & 0x3Fu);
    } else {
      cp = 0x10000;  // outside the map
    }
    if (cp < m.from_codepoint.size() && m.from_codepoint[cp] >= 0) {
      out += static_cast<char>(m.from_codepoint[cp]);
    } else {
      out.append(token_text, pos, n);
    }
    pos += n;
  }
  return out;
}

}  // namespace lmd::utf8
