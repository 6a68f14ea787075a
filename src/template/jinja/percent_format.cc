// Python's printf-style `str % args` (the `format` filter and the `%` operator on strings).
#include <cmath>
#include <cstdio>

#include "template/jinja/py_format.h"

namespace lmd::jinja {
namespace {

struct Spec {
  bool left = false, plus = false, space = false, alt = false, zero = false;
  int width = -1, precision = -1;
};

std::string pad(std::string body, const Spec& spec, bool numeric) {
  const int len = static_cast<int>(utf8_length(body));
  if (spec.width <= len) return body;
  const size_t fill = spec.width - len;
  if (spec.left) return body + std::string(fill, ' ');
  if (spec.zero && numeric) {
    const size_t sign = (!body.empty() && (body[0] == '-' || body[0] == '+' || body[0] == ' ')) ? 1 : 0;
    return body.substr(0, sign) + std::string(fill, '0') + body.substr(sign);
  }
  return std::string(fill, ' ') + body;
}

std::string sign_prefix(bool negative, const Spec& spec) {
  if (negative) return "-";
  if (spec.plus) return "+";
  if (spec.space) return " ";
  return "";
}

int64_t to_integer(const Value& v, char conv) {
  if (v.is_int() || v.is_bool()) return v.as_int();
  if (v.is_float()) {
    if (!std::isfinite(v.as_float())) fail("OverflowError: cannot convert float to integer");
    return static_cast<int64_t>(v.as_float());
  }
  fail(std::string("TypeError: %") + conv + " format: a real number is required, not " + v.type_name());
}

std::string format_one(char conv, const Spec& spec, const Value& v) {
  switch (conv) {
    case 's':
    case 'r':
    case 'a': {
      std::string s = conv == 's' ? to_str(v) : to_repr(v);
      if (spec.precision >= 0) {
        std::vector<uint32_t> cps = utf8_decode(s);
        if (cps.size() > static_cast<size_t>(spec.precision)) cps.resize(spec.precision);
        s = utf8_encode(cps);
      }
      return pad(s, spec, false);
    }
    case 'd':
    case 'i':
    case 'u': {
      const int64_t n = to_integer(v, conv);
      const uint64_t mag = n < 0 ? 0 - static_cast<uint64_t>(n) : static_cast<uint64_t>(n);
      return pad(sign_prefix(n < 0, spec) + std::to_string(mag), spec, true);
    }
    case 'x':
    case 'X':
    case 'o': {
      const int64_t n = to_integer(v, conv);
      const uint64_t mag = n < 0 ? 0 - static_cast<uint64_t>(n) : static_cast<uint64_t>(n);
      char buf[32];
      std::snprintf(buf, sizeof(buf), conv == 'o' ? "%llo" : (conv == 'x' ? "%llx" : "%llX"),
                    static_cast<unsigned long long>(mag));
      std::string prefix = spec.alt ? (conv == 'o' ? "0o" : (conv == 'x' ? "0x" : "0X")) : "";
      return pad(sign_prefix(n < 0, spec) + prefix + buf, spec, true);
    }
    case 'f':
    case 'F':
    case 'e':
    case 'E':
    case 'g':
    case 'G': {
      if (!v.is_number()) fail(std::string("TypeError: must be real number, not ") + v.type_name());
      const double d = v.as_float();
      if (std::isnan(d) || std::isinf(d)) {
        std::string s = std::isnan(d) ? "nan" : "inf";
        if (conv < 'a') s = conv == 'F' || conv == 'E' || conv == 'G' ? (std::isnan(d) ? "NAN" : "INF") : s;
        return pad(sign_prefix(std::signbit(d) && !std::isnan(d), spec) + s, spec, false);
      }
      const int prec = spec.precision < 0 ? 6 : spec.precision;
      char fmt[16];
      std::snprintf(fmt, sizeof(fmt), "%%%s.%d%c", spec.alt ? "#" : "", prec, conv);
      char buf[512];
      std::snprintf(buf, sizeof(buf), fmt, std::fabs(d));
      return pad(sign_prefix(std::signbit(d), spec) + buf, spec, true);
    }
    case 'c': {
      std::string s;
      if (v.is_string() && utf8_length(v.as_string()) == 1) {
        s = v.as_string();
      } else if (v.is_int()) {
        utf8_append(s, static_cast<uint32_t>(v.as_int()));
      } else {
        fail("TypeError: %c requires int or char");
      }
      return pad(s, spec, false);
    }
    default:
      fail(std::string("ValueError: unsupported format character '") + conv + "'");
  }
}

}  // namespace

std::string percent_format(const std::string& fmt, const Value& args) {
  const bool tuple_args = args.is_tuple();
  const List single{args};
  const List& values = tuple_args ? args.as_list() : single;
  size_t next = 0;
  bool used_mapping = false;
  std::string out;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') {
      out += fmt[i];
      continue;
    }
    if (++i >= fmt.size()) fail("ValueError: incomplete format");
    const Value* mapped = nullptr;
    if (fmt[i] == '(') {
      const size_t close = fmt.find(')', i);
      if (close == std::string::npos) fail("ValueError: incomplete format key");
      if (!args.is_dict()) fail("TypeError: format requires a mapping");
      mapped = args.as_dict().find(fmt.substr(i + 1, close - i - 1));
      if (!mapped) fail("KeyError: " + string_repr(fmt.substr(i + 1, close - i - 1)));
      used_mapping = true;
      i = close + 1;
    }
    Spec spec;
    for (; i < fmt.size(); ++i) {
      const char c = fmt[i];
      if (c == '-') spec.left = true;
      else if (c == '+') spec.plus = true;
      else if (c == ' ') spec.space = true;
      else if (c == '#') spec.alt = true;
      else if (c == '0') spec.zero = true;
      else break;
    }
    auto read_number = [&]() {
      int n = 0;
      while (i < fmt.size() && fmt[i] >= '0' && fmt[i] <= '9') {
        n = n * 10 + (fmt[i++] - '0');
        if (n > 100000) fail("ValueError: width too big");
      }
      return n;
    };
    if (i < fmt.size() && fmt[i] >= '0' && fmt[i] <= '9') spec.width = read_number();
    if (i < fmt.size() && fmt[i] == '.') {
      ++i;
      spec.precision = read_number();
    }
    if (i >= fmt.size()) fail("ValueError: incomplete format");
    const char conv = fmt[i];
    if (conv == '%') {
      out += '%';
      continue;
    }
    if (mapped) {
      out += format_one(conv, spec, *mapped);
      continue;
    }
    if (next >= values.size()) fail("TypeError: not enough arguments for format string");
    out += format_one(conv, spec, values[next++]);
  }
  if (!used_mapping && tuple_args && next < values.size()) {
    fail("TypeError: not all arguments converted during string formatting");
  }
  if (!used_mapping && !tuple_args && next == 0 && !args.is_dict()) {
    fail("TypeError: not all arguments converted during string formatting");
  }
  return out;
}

}  // namespace lmd::jinja
