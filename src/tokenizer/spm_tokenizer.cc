#include "tokenizer/spm_tokenizer.h"

#include <cstdio>
#include <queue>

#include "core/error.h"
#include "common/utf8.h"

namespace lmd {
namespace {

const std::string kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space

std::string escape_spaces(const std::string& s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (char c : s) {
    if (c == ' ') out += kSpace;
    else out += c;
  }
  return out;
}

std::string unescape_spaces(const std::string& s) {
  std::string out;
  size_t pos = 0;
  while (true) {
    const size_t hit = s.find(kSpace, pos);
    if (hit == std::string::npos) break;
    out.append(s, pos, hit - pos);
    out += ' ';
    pos = hit + kSpace.size();
  }
  out.append(s, pos, std::string::npos);
  return out;
}

// "<0x0A>" -> 10, or -1.
int parse_byte_piece(const std::string& p) {
  if (p.size() != 6 || p.compare(0, 3, "<0x") != 0 || p[5] != '>') return -1;
  unsigned v = 0;
  if (std::sscanf(p.c_str() + 3, "%2x", &v) != 1) return -1;
  return static_cast<int>(v);
}

}  // namespace

SpmTokenizer::SpmTokenizer(SpmVocab vocab) : VocabTokenizer(std::move(vocab), "SentencePiece vocabulary") {
  LMD_CHECK(vocab_.scores.size() == vocab_.tokens.size())
      << "SentencePiece vocabulary (" << vocab_.source << "): " << vocab_.scores.size() << " scores for "
      << vocab_.tokens.size() << " tokens";
  byte_tokens_.fill(-1);
  for (size_t i = 0; i < vocab_.tokens.size(); ++i) {
    if (vocab_.types[i] != TokenType::kByte) continue;
    const int b = parse_byte_piece(vocab_.tokens[i]);
    if (b >= 0) byte_tokens_[b] = static_cast<int32_t>(i);
  }
}

std::vector<int32_t> SpmTokenizer::encode(const std::string& raw, bool add_bos, bool parse_special) const {
  const std::string text = utf8::is_valid(raw) ? raw : utf8::sanitize(raw);
  std::vector<int32_t> out;
  if (add_bos && vocab_.bos_id >= 0) out.push_back(vocab_.bos_id);
  // As in llama.cpp, the dummy prefix goes in front of the text and of every fragment that
  // follows a special token.
  bool after_special = true;
  for (const TextFragment& frag : specials_.split(text, parse_special)) {
    if (frag.token >= 0) {
      out.push_back(frag.token);
      after_special = true;
      continue;
    }
    const std::string body = (vocab_.add_space_prefix && after_special) ? " " + frag.text : frag.text;
    encode_fragment(escape_spaces(body), out);
    after_special = false;
  }
  return out;
}

void SpmTokenizer::encode_fragment(const std::string& text, std::vector<int32_t>& out) const {
  // Symbols: byte ranges of `text` in a linked list, one character each to start with.
  struct Symbol {
    size_t offset, len;
    int prev, next;
  };
  std::vector<Symbol> syms;
  for (size_t pos = 0; pos < text.size();) {
    bool incomplete = false;
    size_t len = utf8::sequence_length(text, pos, &incomplete);
    if (len == 0) len = 1;
    const int i = static_cast<int>(syms.size());
    syms.push_back({pos, len, i - 1, -1});
    if (i > 0) syms[i - 1].next = i;
    pos += len;
  }
  struct Bigram {
    float score;
    int left, right;
    size_t len;  // combined length when queued; a mismatch later marks it stale
    bool operator<(const Bigram& o) const { return score != o.score ? score < o.score : left > o.left; }
  };
  std::priority_queue<Bigram> queue;
  auto consider = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const size_t len = syms[left].len + syms[right].len;
    auto it = piece_to_id_.find(text.substr(syms[left].offset, len));
    if (it == piece_to_id_.end()) return;
    queue.push({vocab_.scores[it->second], left, right, len});
  };
  for (int i = 1; i < static_cast<int>(syms.size()); ++i) consider(i - 1, i);
  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& l = syms[b.left];
    Symbol& r = syms[b.right];
    if (l.len == 0 || r.len == 0 || l.len + r.len != b.len) continue;  // stale
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) syms[r.next].prev = b.left;
    consider(l.prev, b.left);
    consider(b.left, l.next);
  }
  for (int i = syms.empty() ? -1 : 0; i >= 0; i = syms[i].next) {
    const std::string piece = text.substr(syms[i].offset, syms[i].len);
    auto it = piece_to_id_.find(piece);
    if (it != piece_to_id_.end()) {
      out.push_back(it->second);
      continue;
    }
    // Only single characters can be missing (merges only produce pieces): byte fallback.
    for (char c : piece) {
      const int32_t bt = byte_tokens_[static_cast<uint8_t>(c)];
      if (bt >= 0) out.push_back(bt);
      else if (vocab_.unk_id >= 0) out.push_back(vocab_.unk_id);
    }
  }
}

std::string SpmTokenizer::piece_bytes(int32_t id, bool first) const {
  check_id(id);
  const std::string& piece = vocab_.tokens[id];
  switch (vocab_.types[id]) {
    case TokenType::kByte: {
      const int b = parse_byte_piece(piece);
      return b >= 0 ? std::string(1, static_cast<char>(b)) : piece;
    }
    case TokenType::kControl:
    case TokenType::kUnknown:
      return piece;
    default: {
      std::string text = unescape_spaces(piece);
      if (first && vocab_.add_space_prefix && !text.empty() && text[0] == ' ') text.erase(0, 1);
      return text;
    }
  }
}

}  // namespace lmd
