#include "template/jinja/py_format.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "common/utf8.h"
#include "template/jinja/value.h"

namespace lmd::jinja {

std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  std::string sign = std::signbit(d) ? "-" : "";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), std::fabs(d), std::chars_format::scientific);
  std::string sci(buf, res.ptr);  // "d.ddde+XX", shortest round-trip digits
  const size_t e_pos = sci.find('e');
  std::string digits;
  for (size_t i = 0; i < e_pos; ++i) {
    if (sci[i] != '.') digits += sci[i];
  }
  const int exp10 = std::stoi(sci.substr(e_pos + 1));
  std::string out;
  if (exp10 >= -4 && exp10 < 16) {
    if (exp10 >= 0) {
      std::string int_part = digits.substr(0, std::min<size_t>(digits.size(), exp10 + 1));
      while (int_part.size() < static_cast<size_t>(exp10 + 1)) int_part += '0';
      std::string frac = digits.size() > static_cast<size_t>(exp10 + 1) ? digits.substr(exp10 + 1) : "0";
      out = int_part + "." + frac;
    } else {
      out = "0." + std::string(-exp10 - 1, '0') + digits;
    }
  } else {
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char eb[16];
    std::snprintf(eb, sizeof(eb), "e%c%02d", exp10 < 0 ? '-' : '+', std::abs(exp10));
    out += eb;
  }
  return sign + out;
}

namespace {

// Code points str.isprintable() rejects (outside ASCII): C1 controls, separators other than
// the space, format characters and private use.
bool is_unprintable(uint32_t cp) {
  if (cp < 0x20 || cp == 0x7f) return true;
  if (cp < 0x80) return false;
  if (cp <= 0xa0 || cp == 0xad) return true;
  if (cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202f)) return true;
  if ((cp >= 0x205f && cp <= 0x206f) || cp == 0x3000 || cp == 0xfeff) return true;
  if ((cp >= 0xd800 && cp <= 0xf8ff) || (cp >= 0xfff9 && cp <= 0xfffb)) return true;
  if (cp >= 0xf0000) return true;
  return false;
}

}  // namespace

std::string string_repr(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const bool has_double = s.find('"') != std::string::npos;
  const char quote = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, quote);
  for (uint32_t cp : utf8_decode(s)) {
    char buf[16];
    if (cp == static_cast<uint32_t>(quote) || cp == '\\') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp >= 0xdc80 && cp <= 0xdcff) {  // an undecodable byte
      std::snprintf(buf, sizeof(buf), "\\udc%02x", cp & 0xff);
      out += buf;
    } else if (is_unprintable(cp)) {
      if (cp <= 0xff) {
        std::snprintf(buf, sizeof(buf), "\\x%02x", cp);
      } else if (cp <= 0xffff) {
        std::snprintf(buf, sizeof(buf), "\\u%04x", cp);
      } else {
        std::snprintf(buf, sizeof(buf), "\\U%08x", cp);
      }
      out += buf;
    } else {
      utf8_append(out, cp);
    }
  }
  out += quote;
  return out;
}

std::vector<uint32_t> utf8_decode(const std::string& s) {
  std::vector<uint32_t> out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    int len = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      out.push_back(c);
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0 && c >= 0xc2) {
      len = 2, cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3, cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0 && c <= 0xf4) {
      len = 4, cp = c & 0x07;
    }
    bool ok = len > 0 && i + len <= n;
    for (int k = 1; ok && k < len; ++k) {
      if ((p[i + k] & 0xc0) != 0x80) ok = false;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    if (ok && ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))) {
      ok = false;
    }
    if (!ok) {
      out.push_back(0xdc00 + c);  // surrogateescape
      ++i;
      continue;
    }
    out.push_back(cp);
    i += len;
  }
  return out;
}

void utf8_append(std::string& out, uint32_t cp) {
  if (cp >= 0xdc80 && cp <= 0xdcff) {  // a surrogate-escaped byte (as utf8_decode produces)
    out += static_cast<char>(cp & 0xff);
  } else {
    utf8::append_codepoint(out, cp);
  }
}

std::string utf8_encode(const std::vector<uint32_t>& cps) {
  std::string out;
  out.reserve(cps.size());
  for (uint32_t cp : cps) utf8_append(out, cp);
  return out;
}

size_t utf8_length(const std::string& s) {
  bool ascii = true;
  for (unsigned char c : s) {
    if (c >= 0x80) {
      ascii = false;
      break;
    }
  }
  return ascii ? s.size() : utf8_decode(s).size();
}

bool py_isspace(uint32_t cp) {
  if (cp == ' ' || (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x1f)) return true;
  if (cp < 0x80) return false;
  return cp == 0x85 || cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 ||
         cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

uint32_t py_upper(uint32_t cp) {
  if (cp >= 'a' && cp <= 'z') return cp - 32;
  if (cp < 0x80) return cp;
  if (cp == 0xb5) return 0x39c;
  if (cp >= 0xe0 && cp <= 0xfe && cp != 0xf7) return cp - 32;
  if (cp == 0xff) return 0x178;
  if (cp >= 0x100 && cp <= 0x17f) {
    const bool even_upper = (cp <= 0x137) || (cp >= 0x14a && cp <= 0x177);
    const bool odd_upper = (cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17e);
    if (even_upper && (cp & 1)) return cp - 1;
    if (odd_upper && !(cp & 1)) return cp - 1;
    return cp;
  }
  if (cp == 0x3c2) return 0x3a3;
  if (cp >= 0x3b1 && cp <= 0x3c9) return cp - 32;
  if (cp >= 0x430 && cp <= 0x44f) return cp - 32;
  if (cp >= 0x450 && cp <= 0x45f) return cp - 80;
  if (cp >= 0xff41 && cp <= 0xff5a) return cp - 32;
  return cp;
}

uint32_t py_lower(uint32_t cp) {
  if (cp >= 'A' && cp <= 'Z') return cp + 32;
  if (cp < 0x80) return cp;
  if (cp >= 0xc0 && cp <= 0xde && cp != 0xd7) return cp + 32;
  if (cp == 0x178) return 0xff;
  if (cp >= 0x100 && cp <= 0x17f) {
    const bool even_upper = (cp <= 0x137) || (cp >= 0x14a && cp <= 0x177);
    const bool odd_upper = (cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17e);
    if (even_upper && !(cp & 1)) return cp + 1;
    if (odd_upper && (cp & 1)) return cp + 1;
    return cp;
  }
  if (cp >= 0x391 && cp <= 0x3a9 && cp != 0x3a2) return cp + 32;
  if (cp >= 0x410 && cp <= 0x42f) return cp + 32;
  if (cp >= 0x400 && cp <= 0x40f) return cp + 80;
  if (cp >= 0xff21 && cp <= 0xff3a) return cp + 32;
  return cp;
}

bool is_cased_upper(uint32_t cp) { return py_lower(cp) != cp; }
bool is_cased_lower(uint32_t cp) { return py_upper(cp) != cp || cp == 0xdf; }

bool py_isalnum(uint32_t cp) {
  if (cp < 0x80) return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
  if (py_isspace(cp) || is_unprintable(cp)) return false;
  if ((cp >= 0xa1 && cp <= 0xbf && cp != 0xaa && cp != 0xb5 && cp != 0xba) || cp == 0xd7 || cp == 0xf7) return false;
  if ((cp >= 0x2010 && cp <= 0x2bff) || (cp >= 0x3000 && cp <= 0x303f) || (cp >= 0xff00 && cp <= 0xff0f)) return false;
  return true;
}

namespace {
template <typename F>
std::string map_code_points(const std::string& s, F f) {
  std::string out;
  out.reserve(s.size());
  for (uint32_t cp : utf8_decode(s)) utf8_append(out, f(cp));
  return out;
}
bool is_cased(uint32_t cp) { return is_cased_upper(cp) || is_cased_lower(cp); }
}  // namespace

std::string str_upper(const std::string& s) { return map_code_points(s, py_upper); }
std::string str_lower(const std::string& s) { return map_code_points(s, py_lower); }

std::string str_title(const std::string& s) {
  std::string out;
  bool prev_cased = false;
  for (uint32_t cp : utf8_decode(s)) {
    utf8_append(out, prev_cased ? py_lower(cp) : py_upper(cp));
    prev_cased = is_cased(cp);
  }
  return out;
}

std::string str_capitalize(const std::string& s) {
  std::string out;
  bool first = true;
  for (uint32_t cp : utf8_decode(s)) {
    utf8_append(out, first ? py_upper(cp) : py_lower(cp));
    first = false;
  }
  return out;
}

std::string str_strip(const std::string& s, const std::string* chars, bool left, bool right) {
  const std::vector<uint32_t> cps = utf8_decode(s);
  std::vector<uint32_t> set;
  if (chars) set = utf8_decode(*chars);
  auto strip_it = [&](uint32_t cp) {
    if (!chars) return py_isspace(cp);
    for (uint32_t c : set) {
      if (c == cp) return true;
    }
    return false;
  };
  size_t b = 0, e = cps.size();
  if (left) {
    while (b < e && strip_it(cps[b])) ++b;
  }
  if (right) {
    while (e > b && strip_it(cps[e - 1])) --e;
  }
  return utf8_encode(std::vector<uint32_t>(cps.begin() + b, cps.begin() + e));
}

std::vector<std::string> str_splitlines(const std::string& s) {
  std::vector<std::string> lines;
  std::vector<uint32_t> cur;
  const std::vector<uint32_t> cps = utf8_decode(s);
  for (size_t i = 0; i < cps.size(); ++i) {
    const uint32_t cp = cps[i];
    const bool brk = cp == '\n' || cp == '\r' || cp == 0x0b || cp == 0x0c || (cp >= 0x1c && cp <= 0x1e) ||
                     cp == 0x85 || cp == 0x2028 || cp == 0x2029;
    if (!brk) {
      cur.push_back(cp);
      continue;
    }
    if (cp == '\r' && i + 1 < cps.size() && cps[i + 1] == '\n') ++i;
    lines.push_back(utf8_encode(cur));
    cur.clear();
  }
  if (!cur.empty()) lines.push_back(utf8_encode(cur));
  return lines;
}

std::vector<std::string> str_split(const std::string& s, const std::string* sep, int64_t maxsplit, bool from_right) {
  std::vector<std::string> parts;
  if (sep) {
    if (sep->empty()) fail("ValueError: empty separator");
    if (!from_right) {
      size_t pos = 0;
      while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
        const size_t hit = s.find(*sep, pos);
        if (hit == std::string::npos) break;
        parts.push_back(s.substr(pos, hit - pos));
        pos = hit + sep->size();
      }
      parts.push_back(s.substr(pos));
    } else {
      size_t end = s.size();
      std::vector<std::string> rev;
      while (maxsplit < 0 || static_cast<int64_t>(rev.size()) < maxsplit) {
        if (end < sep->size()) break;
        const size_t hit = s.rfind(*sep, end - sep->size());
        if (hit == std::string::npos) break;
        rev.push_back(s.substr(hit + sep->size(), end - hit - sep->size()));
        end = hit;
      }
      rev.push_back(s.substr(0, end));
      parts.assign(rev.rbegin(), rev.rend());
    }
    return parts;
  }
  // Whitespace runs; leading and trailing whitespace yields no empty parts.
  std::vector<uint32_t> cps = utf8_decode(s);
  if (from_right) std::reverse(cps.begin(), cps.end());
  size_t i = 0;
  const size_t n = cps.size();
  while (true) {
    while (i < n && py_isspace(cps[i])) ++i;
    if (i >= n) break;
    if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
      size_t e = n;
      while (e > i && py_isspace(cps[e - 1])) --e;
      std::vector<uint32_t> rest(cps.begin() + i, cps.begin() + e);
      if (from_right) std::reverse(rest.begin(), rest.end());
      parts.push_back(utf8_encode(rest));
      break;
    }
    size_t j = i;
    while (j < n && !py_isspace(cps[j])) ++j;
    std::vector<uint32_t> word(cps.begin() + i, cps.begin() + j);
    if (from_right) std::reverse(word.begin(), word.end());
    parts.push_back(utf8_encode(word));
    i = j;
  }
  if (from_right) std::reverse(parts.begin(), parts.end());
  return parts;
}

std::string str_replace(const std::string& s, const std::string& from, const std::string& to, int64_t count) {
  std::string out;
  int64_t done = 0;
  if (from.empty()) {
    // Python inserts `to` before every code point and at the end.
    const std::vector<uint32_t> cps = utf8_decode(s);
    for (uint32_t cp : cps) {
      if (count < 0 || done < count) out += to, ++done;
      utf8_append(out, cp);
    }
    if (count < 0 || done < count) out += to;
    return out;
  }
  size_t pos = 0;
  while (count < 0 || done < count) {
    const size_t hit = s.find(from, pos);
    if (hit == std::string::npos) break;
    out.append(s, pos, hit - pos);
    out += to;
    pos = hit + from.size();
    ++done;
  }
  out.append(s, pos, std::string::npos);
  return out;
}

std::string str_center(const std::string& s, int64_t width) {
  const int64_t len = static_cast<int64_t>(utf8_length(s));
  if (width <= len) return s;
  const int64_t marg = width - len;
  const int64_t left = marg / 2 + (marg & width & 1);
  return std::string(left, ' ') + s + std::string(marg - left, ' ');
}

}  // namespace lmd::jinja
