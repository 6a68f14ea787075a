#include "template/jinja/lexer.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>

#include "core/error.h"
#include "template/jinja/py_format.h"

namespace lmd::jinja {

void throw_template_error(const std::string& template_name, int line, int column, const std::string& message) {
  throw Error("template '" + template_name + "', line " + std::to_string(line) + ", column " +
                  std::to_string(column) + ": " + message,
              Error::Kind::kInvalidArgument);
}

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || static_cast<unsigned char>(c) >= 0x80;
}
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

class Lexer {
 public:
  Lexer(std::string source, const std::string& name, const LexOptions& options)
      : src_(std::move(source)), name_(name), opt_(options) {}

  std::vector<Token> run() {
    while (pos_ < src_.size()) lex_root();
    push(TokenType::kEof, "", pos_);
    return std::move(tokens_);
  }

 private:
  // ---- positions and errors
  void position_of(size_t pos, int& line, int& col) {
    // Tokens are produced left to right, so line and column counters only move forward
    // (linear in the template size); an error about an earlier position restarts them.
    if (pos < line_pos_ || pos < col_pos_) line_ = 1, line_start_ = 0, line_pos_ = 0, col_pos_ = 0, col_ = 1;
    while (line_pos_ < pos) {
      if (src_[line_pos_] == '\n') {
        ++line_;
        line_start_ = line_pos_ + 1;
      }
      ++line_pos_;
    }
    if (col_pos_ < line_start_) col_pos_ = line_start_, col_ = 1;
    for (; col_pos_ < pos; ++col_pos_) {
      if ((static_cast<unsigned char>(src_[col_pos_]) & 0xc0) != 0x80) ++col_;
    }
    line = line_;
    col = col_;
  }
  [[noreturn]] void error_at(size_t pos, const std::string& msg) {
    int line, col;
    position_of(pos, line, col);
    throw_template_error(name_, line, col, msg);
  }
  Token& push(TokenType type, std::string text, size_t pos) {
    Token t;
    t.type = type;
    t.text = std::move(text);
    position_of(pos, t.line, t.column);
    tokens_.push_back(std::move(t));
    return tokens_.back();
  }

  // Length of the Python whitespace code point at p (0 when none).
  size_t space_at(size_t p) const {
    if (p >= src_.size()) return 0;
    const unsigned char c = src_[p];
    if (c < 0x80) return py_isspace(c) ? 1 : 0;
    size_t len = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 1;
    if (p + len > src_.size()) return 0;
    const std::vector<uint32_t> cps = utf8_decode(src_.substr(p, len));
    return cps.size() == 1 && py_isspace(cps[0]) ? len : 0;
  }
  size_t skip_spaces(size_t p) const {
    while (size_t n = space_at(p)) p += n;
    return p;
  }
  bool at(size_t p, const char* s) const { return src_.compare(p, std::char_traits<char>::length(s), s) == 0; }

  // jinja2's OptionalLStrip on the data before a tag.
  std::string strip_before(std::string text, char sign, bool is_variable) {
    if (sign == '-') return str_strip(text, nullptr, false, true);
    if (sign == '+' || !opt_.lstrip_blocks || is_variable) return text;
    const size_t nl = text.rfind('\n');
    const size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
    if (!(l_pos > 0 || line_starting_) || l_pos == text.size()) return text;
    const std::vector<uint32_t> tail = utf8_decode(text.substr(l_pos));
    for (uint32_t cp : tail) {
      if (!py_isspace(cp)) return text;
    }
    return text.substr(0, l_pos);
  }

  // After a block / comment end delimiter ending at p with modifier `sign`.
  size_t after_block_end(size_t p, char sign) {
    if (sign == '-') p = skip_spaces(p);
    else if (sign != '+' && opt_.trim_blocks && p < src_.size() && src_[p] == '\n') ++p;
    line_starting_ = p > 0 && src_[p - 1] == '\n';
    return p;
  }

  // `{%(-|+|)\s*raw\s*(-%}\s*|%})` at p: the end position, or npos.
  size_t match_raw_begin(size_t p) const {
    size_t q = p + 2;
    if (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) ++q;
    q = skip_spaces(q);
    if (!at(q, "raw")) return std::string::npos;
    q = skip_spaces(q + 3);
    if (at(q, "-%}")) return skip_spaces(q + 3);
    if (at(q, "%}")) return q + 2;
    return std::string::npos;
  }

  void emit_data(const std::string& text, size_t pos) {
    if (!text.empty()) push(TokenType::kData, text, pos);
  }

  void lex_root() {
    size_t open = src_.find('{', pos_);
    while (open != std::string::npos && open + 1 < src_.size() && src_[open + 1] != '{' && src_[open + 1] != '%' &&
           src_[open + 1] != '#') {
      open = src_.find('{', open + 1);
    }
    if (open == std::string::npos || open + 1 >= src_.size()) {
      emit_data(src_.substr(pos_), pos_);
      pos_ = src_.size();
      return;
    }
    const char kind = src_[open + 1];
    size_t raw_end = kind == '%' ? match_raw_begin(open) : std::string::npos;
    const char sign = (open + 2 < src_.size() && (src_[open + 2] == '-' || src_[open + 2] == '+')) ? src_[open + 2] : 0;
    emit_data(strip_before(src_.substr(pos_, open - pos_), sign, kind == '{'), pos_);
    const size_t body = open + 2 + (sign ? 1 : 0);
    if (raw_end != std::string::npos) {
      line_starting_ = src_[raw_end - 1] == '\n';
      lex_raw(open, raw_end);
    } else if (kind == '#') {
      lex_comment(open, body);
    } else {
      push(kind == '%' ? TokenType::kBlockBegin : TokenType::kVarBegin, "", open);
      lex_tag(body, kind == '%');
    }
  }

  void lex_comment(size_t open, size_t body) {
    size_t end = src_.find("#}", body);
    if (end == std::string::npos) error_at(open, "Missing end of comment tag");
    char sign = 0;
    if (end > body && (src_[end - 1] == '-' || src_[end - 1] == '+')) sign = src_[end - 1];
    pos_ = after_block_end(end + 2, sign);
  }

  void lex_raw(size_t open, size_t content) {
    for (size_t p = src_.find("{%", content); p != std::string::npos; p = src_.find("{%", p + 1)) {
      size_t q = p + 2;
      char sign = 0;
      if (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) sign = src_[q++];
      q = skip_spaces(q);
      if (!at(q, "endraw")) continue;
      q = skip_spaces(q + 6);
      char end_sign = 0;
      if (at(q, "+%}") || at(q, "-%}")) {
        end_sign = src_[q];
        q += 3;
      } else if (at(q, "%}")) {
        q += 2;
      } else {
        continue;
      }
      emit_data(strip_before(src_.substr(content, p - content), sign, false), content);
      pos_ = after_block_end(q, end_sign);
      return;
    }
    error_at(open, "Missing end of raw directive");
  }

  // Tokens inside `{% ... %}` (is_block) or `{{ ... }}`, up to and including the end.
  void lex_tag(size_t p, bool is_block) {
    std::string balance;  // expected closing brackets
    while (true) {
      if (p >= src_.size()) {
        pos_ = p;
        return;  // the parser reports the unexpected end
      }
      if (balance.empty()) {
        if (is_block && (at(p, "-%}") || at(p, "+%}") || at(p, "%}"))) {
          const char sign = src_[p] == '%' ? 0 : src_[p];
          push(TokenType::kBlockEnd, "", p);
          pos_ = after_block_end(p + (sign ? 3 : 2), sign);
          return;
        }
        if (!is_block && (at(p, "-}}") || at(p, "}}"))) {
          push(TokenType::kVarEnd, "", p);
          const bool strip = src_[p] == '-';
          p += strip ? 3 : 2;
          if (strip) p = skip_spaces(p);
          line_starting_ = src_[p - 1] == '\n';
          pos_ = p;
          return;
        }
      }
      if (size_t n = space_at(p)) {
        p = skip_spaces(p + n);
        continue;
      }
      if (size_t end = match_float(p)) {
        lex_float(p, end);
        p = end;
        continue;
      }
      if (size_t end = match_integer(p)) {
        lex_integer(p, end);
        p = end;
        continue;
      }
      const char c = src_[p];
      if (is_name_start(c)) {
        size_t e = p;
        while (e < src_.size() && is_name_char(src_[e])) ++e;
        push(TokenType::kName, src_.substr(p, e - p), p);
        p = e;
        continue;
      }
      if (c == '\'' || c == '"') {
        p = lex_string(p);
        continue;
      }
      p = lex_operator(p, balance);
    }
  }

  // Digits with single underscores between them ((\d+_)*\d+): end position or 0.
  size_t match_digits(size_t p) const {
    if (p >= src_.size() || !is_digit(src_[p])) return 0;
    while (true) {
      while (p < src_.size() && is_digit(src_[p])) ++p;
      if (p + 1 < src_.size() && src_[p] == '_' && is_digit(src_[p + 1])) {
        ++p;
        continue;
      }
      return p;
    }
  }
  size_t match_float(size_t p) const {
    if (p > 0 && src_[p - 1] == '.') return 0;
    size_t q = match_digits(p);
    if (!q) return 0;
    size_t frac_end = 0;
    if (q < src_.size() && src_[q] == '.') frac_end = match_digits(q + 1);
    size_t after = frac_end ? frac_end : q;
    if (after < src_.size() && (src_[after] == 'e' || src_[after] == 'E')) {
      size_t e = after + 1;
      if (e < src_.size() && (src_[e] == '+' || src_[e] == '-')) ++e;
      if (size_t exp_end = match_digits(e)) return exp_end;
    }
    return frac_end;
  }
  size_t match_integer(size_t p) const {
    if (p >= src_.size() || !is_digit(src_[p])) return 0;
    auto based = [&](size_t q, auto is_ok) -> size_t {
      size_t n = 0;
      while (true) {
        size_t r = q;
        if (r < src_.size() && src_[r] == '_') ++r;
        if (r < src_.size() && is_ok(src_[r])) {
          q = r + 1;
          ++n;
        } else {
          return n ? q : 0;
        }
      }
    };
    if (src_[p] == '0' && p + 1 < src_.size()) {
      const char b = src_[p + 1] | 0x20;
      if (b == 'b') {
        if (size_t e = based(p + 2, [](char c) { return c == '0' || c == '1'; })) return e;
      } else if (b == 'o') {
        if (size_t e = based(p + 2, [](char c) { return c >= '0' && c <= '7'; })) return e;
      } else if (b == 'x') {
        if (size_t e = based(p + 2, [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; })) return e;
      }
    }
    if (src_[p] == '0') {
      size_t e = p + 1;
      while (true) {
        size_t r = e;
        if (r < src_.size() && src_[r] == '_') ++r;
        if (r < src_.size() && src_[r] == '0') e = r + 1;
        else return e;
      }
    }
    return match_digits(p);
  }
  void lex_float(size_t p, size_t end) {
    std::string text;
    for (size_t i = p; i < end; ++i) {
      if (src_[i] != '_') text += src_[i];
    }
    Token& t = push(TokenType::kFloat, text, p);
    t.float_value = std::strtod(text.c_str(), nullptr);
  }
  void lex_integer(size_t p, size_t end) {
    std::string text;
    for (size_t i = p; i < end; ++i) {
      if (src_[i] != '_') text += src_[i];
    }
    int base = 10;
    std::string digits = text;
    if (text.size() > 2 && text[0] == '0' && std::isalpha(static_cast<unsigned char>(text[1]))) {
      const char b = text[1] | 0x20;
      base = b == 'b' ? 2 : b == 'o' ? 8 : 16;
      digits = text.substr(2);
    }
    errno = 0;
    const unsigned long long v = std::strtoull(digits.c_str(), nullptr, base);
    if (errno == ERANGE || v > static_cast<unsigned long long>(INT64_MAX)) {
      error_at(p, "integer literal " + text + " is too large (limit: 64-bit)");
    }
    Token& t = push(TokenType::kInt, text, p);
    t.int_value = static_cast<int64_t>(v);
  }

  size_t lex_string(size_t p) {
    const char quote = src_[p];
    size_t q = p + 1;
    while (q < src_.size() && src_[q] != quote) q += src_[q] == '\\' ? 2 : 1;
    if (q >= src_.size()) error_at(p, "unexpected char " + string_repr(std::string(1, quote)) + " (unterminated string)");
    push(TokenType::kString, decode_escapes(src_.substr(p + 1, q - p - 1), p), p);
    return q + 1;
  }

  // Python's unicode-escape decoding of a string literal's body.
  std::string decode_escapes(const std::string& s, size_t pos) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] != '\\' || i + 1 >= s.size()) {
        out += s[i];
        continue;
      }
      const char c = s[++i];
      auto hex = [&](int n) {
        uint32_t v = 0;
        for (int k = 1; k <= n; ++k) {
          if (i + k >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i + k]))) {
            error_at(pos, "truncated \\x / \\u escape in string literal");
          }
          const char h = s[i + k];
          v = v * 16 + (is_digit(h) ? h - '0' : (h | 0x20) - 'a' + 10);
        }
        i += n;
        return v;
      };
      switch (c) {
        case '\n': break;
        case '\\': out += '\\'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case 'a': out += '\a'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'v': out += '\v'; break;
        case 'x': utf8_append(out, hex(2)); break;
        case 'u': utf8_append(out, hex(4)); break;
        case 'U': {
          const uint32_t cp = hex(8);
          if (cp > 0x10ffff) error_at(pos, "illegal Unicode character in string literal");
          utf8_append(out, cp);
          break;
        }
        default:
          if (c >= '0' && c <= '7') {
            uint32_t v = c - '0';
            for (int k = 0; k < 2 && i + 1 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '7'; ++k) v = v * 8 + (s[++i] - '0');
            utf8_append(out, v);
          } else {
            out += '\\';
            out += c;
          }
      }
    }
    return out;
  }

  size_t lex_operator(size_t p, std::string& balance) {
    static const char* kTwo[] = {"**", "//", "==", "!=", ">=", "<="};
    for (const char* op : kTwo) {
      if (at(p, op)) {
        push(TokenType::kOperator, op, p);
        return p + 2;
      }
    }
    const char c = src_[p];
    static const std::string kOne = "+-/*%~[](){}><=.:|,;";
    if (kOne.find(c) == std::string::npos) {
      error_at(p, "unexpected char " + string_repr(utf8_encode({utf8_decode(src_.substr(p, 4)).front()})));
    }
    if (c == '(' || c == '[' || c == '{') balance += c == '(' ? ')' : c == '[' ? ']' : '}';
    if (c == ')' || c == ']' || c == '}') {
      if (balance.empty()) error_at(p, std::string("unexpected '") + c + "'");
      if (balance.back() != c) error_at(p, std::string("unexpected '") + c + "', expected '" + balance.back() + "'");
      balance.pop_back();
    }
    push(TokenType::kOperator, std::string(1, c), p);
    return p + 1;
  }

  std::string src_;
  const std::string& name_;
  LexOptions opt_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
  bool line_starting_ = true;
  int line_ = 1;
  size_t line_start_ = 0, line_pos_ = 0;
  size_t col_pos_ = 0;
  int col_ = 1;
};

std::string normalize_newlines(const std::string& source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();  // keep_trailing_newline=False
  return out;
}

}  // namespace

std::vector<Token> tokenize(const std::string& source, const std::string& template_name, const LexOptions& options) {
  return Lexer(normalize_newlines(source), template_name, options).run();
}

}  // namespace lmd::jinja
