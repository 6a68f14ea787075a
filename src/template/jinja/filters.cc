// String and scalar filters, and the filter registry. Sequence filters: filters_seq.cc.
// Each follows jinja2 3.1's filter of the same name (tojson: transformers' override).
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <unordered_map>

#include "template/jinja/filter_util.h"

namespace lmd::jinja {

namespace {

Value V_str(std::string s) { return Value::string(std::move(s)); }

int64_t len_of(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined: return 0;
    case Value::Kind::kString: return static_cast<int64_t>(utf8_length(v.as_string()));
    case Value::Kind::kList:
    case Value::Kind::kTuple: return static_cast<int64_t>(v.as_list().size());
    case Value::Kind::kDict: return static_cast<int64_t>(v.as_dict().items.size());
    default: fail("TypeError: object of type '" + v.type_name() + "' has no len()");
  }
}

Value f_length(Interpreter&, const Value& v, CallArgs& args) {
  bind_args(args, "length", {}, {});
  return Value::integer(len_of(v));
}

Value f_upper(Interpreter& in, const Value& v, CallArgs& args) {
  bind_args(args, "upper", {}, {});
  return in.make_string(str_upper(soft_str(v)));
}
Value f_lower(Interpreter& in, const Value& v, CallArgs& args) {
  bind_args(args, "lower", {}, {});
  return in.make_string(str_lower(soft_str(v)));
}
Value f_capitalize(Interpreter& in, const Value& v, CallArgs& args) {
  bind_args(args, "capitalize", {}, {});
  return in.make_string(str_capitalize(soft_str(v)));
}

// jinja2's title: words start after runs of [-\s({\[<]; first letter upper, rest lower.
Value f_title(Interpreter& in, const Value& v, CallArgs& args) {
  bind_args(args, "title", {}, {});
  std::string out;
  bool word_start = true;
  for (uint32_t cp : utf8_decode(soft_str(v))) {
    const bool sep = py_isspace(cp) || cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<';
    if (sep) {
      utf8_append(out, cp);
      word_start = true;
    } else {
      utf8_append(out, word_start ? py_upper(cp) : py_lower(cp));
      word_start = false;
    }
  }
  return in.make_string(std::move(out));
}

Value f_trim(Interpreter& in, const Value& v, CallArgs& args) {
  auto a = bind_args(args, "trim", {"chars"}, {Value::none()});
  if (a[0].is_none()) return in.make_string(str_strip(soft_str(v), nullptr, true, true));
  const std::string chars = soft_str(a[0]);
  return in.make_string(str_strip(soft_str(v), &chars, true, true));
}

Value f_string(Interpreter& in, const Value& v, CallArgs& args) {
  bind_args(args, "string", {}, {});
  return v.is_string() ? v : in.make_string(soft_str(v));
}

Value f_safe(Interpreter&, const Value& v, CallArgs& args) {
  bind_args(args, "safe", {}, {});
  return v.is_string() ? v : Value::string(soft_str(v));
}

Value f_escape(Interpreter& in, const Value& v, CallArgs& args) {
  bind_args(args, "escape", {}, {});
  std::string out;
  for (char c : soft_str(v)) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return in.make_string(std::move(out));
}

Value f_replace(Interpreter& in, const Value& v, CallArgs& args) {
  auto a = bind_args(args, "replace", {"old", "new", "count"}, {Value(), Value(), Value::none()});
  const int64_t count = a[2].is_none() ? -1 : int_arg(a[2], "count");
  const std::string result = str_replace(soft_str(v), soft_str(a[0]), soft_str(a[1]), count);
  return in.make_string(result);
}

Value f_default(Interpreter&, const Value& v, CallArgs& args) {
  auto a = bind_args(args, "default", {"default_value", "boolean"}, {V_str(""), Value::boolean(false)});
  if (v.is_undefined() || (a[1].truthy() && !v.truthy())) return a[0];
  return v;
}

Value f_indent(Interpreter& in, const Value& v, CallArgs& args) {
  auto a = bind_args(args, "indent", {"width", "first", "blank"}, {Value::integer(4), Value::boolean(false), Value::boolean(false)});
  const std::string indention = a[0].is_string() ? a[0].as_string() : std::string(std::max<int64_t>(0, int_arg(a[0], "width")), ' ');
  const std::vector<std::string> lines = str_splitlines(soft_str(v) + "\n");
  std::string rv;
  if (a[2].truthy()) {
    for (size_t i = 0; i < lines.size(); ++i) rv += (i ? "\n" + indention : "") + lines[i];
  } else {
    rv = lines.empty() ? "" : lines[0];
    for (size_t i = 1; i < lines.size(); ++i) rv += "\n" + (lines[i].empty() ? "" : indention + lines[i]);
  }
  if (a[1].truthy()) rv = indention + rv;
  return in.make_string(std::move(rv));
}

Value f_center(Interpreter& in, const Value& v, CallArgs& args) {
  auto a = bind_args(args, "center", {"width"}, {Value::integer(80)});
  const int64_t width = int_arg(a[0], "width");
  if (width > static_cast<int64_t>(in.options().max_output_bytes)) in.make_string(std::string(width, ' '));
  return in.make_string(str_center(soft_str(v), width));
}

Value f_wordcount(Interpreter&, const Value& v, CallArgs& args) {
  bind_args(args, "wordcount", {}, {});
  int64_t n = 0;
  bool in_word = false;
  for (uint32_t cp : utf8_decode(soft_str(v))) {
    const bool w = cp == '_' || py_isalnum(cp);
    if (w && !in_word) ++n;
    in_word = w;
  }
  return Value::integer(n);
}

Value f_format(Interpreter& in, const Value& v, CallArgs& args) {
  if (!args.positional.empty() && !args.keyword.empty()) {
    fail("can't handle positional and keyword arguments at the same time");
  }
  if (!args.keyword.empty()) {
    auto d = std::make_shared<Dict>();
    for (const auto& [k, val] : args.keyword) d->set(Value::string(k), val);
    return in.make_string(percent_format(soft_str(v), Value::dict(d)));
  }
  return in.make_string(percent_format(soft_str(v), Value::tuple(args.positional)));
}

Value f_truncate(Interpreter& in, const Value& v, CallArgs& args) {
  auto a = bind_args(args, "truncate", {"length", "killwords", "end", "leeway"},
                     {Value::integer(255), Value::boolean(false), V_str("..."), Value::integer(5)});
  const std::vector<uint32_t> s = utf8_decode(soft_str(v));
  const int64_t length = int_arg(a[0], "length");
  const std::string end = soft_str(a[2]);
  const int64_t leeway = a[3].is_none() ? 5 : int_arg(a[3], "leeway");
  const int64_t end_len = static_cast<int64_t>(utf8_length(end));
  if (length < end_len) fail("expected length >= " + std::to_string(end_len) + ", got " + std::to_string(length));
  if (leeway < 0) fail("expected leeway >= 0, got " + std::to_string(leeway));
  if (static_cast<int64_t>(s.size()) <= length + leeway) return V_str(soft_str(v));
  std::vector<uint32_t> cut(s.begin(), s.begin() + (length - end_len));
  if (!a[1].truthy()) {
    // rsplit(" ", 1)[0]
    size_t sp = cut.size();
    while (sp > 0 && cut[sp - 1] != ' ') --sp;
    if (sp > 0) cut.resize(sp - 1);
  }
  return in.make_string(utf8_encode(cut) + end);
}

Value f_int(Interpreter&, const Value& v, CallArgs& args) {
  auto a = bind_args(args, "int", {"default", "base"}, {Value::integer(0), Value::integer(10)});
  if (v.is_int() || v.is_bool()) return Value::integer(v.as_int());
  if (v.is_float()) {
    if (!std::isfinite(v.as_float()) || std::fabs(v.as_float()) > 9.2e18) return a[0];
    return Value::integer(static_cast<int64_t>(v.as_float()));
  }
  if (!v.is_string()) return a[0];
  std::string s = str_strip(v.as_string(), nullptr, true, true);
  std::string digits;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_' && i > 0 && i + 1 < s.size() && std::isalnum(static_cast<unsigned char>(s[i - 1])) &&
        std::isalnum(static_cast<unsigned char>(s[i + 1]))) {
      continue;
    }
    digits += s[i];
  }
  const int64_t base = int_arg(a[1], "base");
  if (!digits.empty()) {
    errno = 0;
    char* end = nullptr;
    const long long n = std::strtoll(digits.c_str(), &end, static_cast<int>(base));
    if (end && *end == 0 && errno == 0 && !std::isspace(static_cast<unsigned char>(digits[0]))) return Value::integer(n);
  }
  // "42.23"|int == 42: Python falls back to int(float(value)).
  char* end = nullptr;
  const double d = std::strtod(s.c_str(), &end);
  if (!s.empty() && end && *end == 0 && std::isfinite(d) && std::fabs(d) < 9.2e18 &&
      s.find_first_of("xXpP") == std::string::npos) {
    return Value::integer(static_cast<int64_t>(d));
  }
  return a[0];
}

Value f_float(Interpreter&, const Value& v, CallArgs& args) {
  auto a = bind_args(args, "float", {"default"}, {Value::floating(0.0)});
  if (v.is_number()) return Value::floating(v.as_float());
  if (!v.is_string()) return a[0];
  const std::string s = str_strip(v.as_string(), nullptr, true, true);
  std::string clean;
  for (char c : s) {
    if (c != '_') clean += c;
  }
  char* end = nullptr;
  const double d = std::strtod(clean.c_str(), &end);
  if (clean.empty() || !end || *end != 0 || clean.find_first_of("xXpP") != std::string::npos) return a[0];
  return Value::floating(d);
}

Value f_abs(Interpreter&, const Value& v, CallArgs& args) {
  bind_args(args, "abs", {}, {});
  if (v.is_float()) return Value::floating(std::fabs(v.as_float()));
  if (v.is_int() || v.is_bool()) return v.as_int() < 0 ? negate(v) : Value::integer(v.as_int());
  if (v.is_undefined()) v.fail_undefined();
  fail("TypeError: bad operand type for abs(): '" + v.type_name() + "'");
}

// Python's round(x, n) for floats: correctly rounded, ties to even on the exact binary value.
double py_round(double x, int64_t n) {
  if (!std::isfinite(x) || n > 300) return x;
  if (n >= 0) {
    char buf[512];
    std::snprintf(buf, sizeof(buf), "%.*f", static_cast<int>(n), x);
    return std::strtod(buf, nullptr);
  }
  const double p = std::pow(10.0, static_cast<double>(-n));
  return std::nearbyint(x / p) * p;
}

Value f_round(Interpreter&, const Value& v, CallArgs& args) {
  auto a = bind_args(args, "round", {"precision", "method"}, {Value::integer(0), V_str("common")});
  const int64_t precision = int_arg(a[0], "precision");
  const std::string method = soft_str(a[1]);
  if (method != "common" && method != "ceil" && method != "floor") {
    fail("method must be common, ceil or floor");
  }
  if (v.is_undefined()) v.fail_undefined();
  if (!v.is_number()) fail("TypeError: type " + v.type_name() + " doesn't define __round__ method");
  if (method == "common") {
    if (!v.is_float()) return Value::integer(v.as_int());  // round(int, n) stays an int
    return Value::floating(py_round(v.as_float(), precision));
  }
  const double scale = std::pow(10.0, static_cast<double>(precision));
  const double scaled = v.as_float() * scale;
  return Value::floating((method == "ceil" ? std::ceil(scaled) : std::floor(scaled)) / scale);
}

Value f_tojson(Interpreter& in, const Value& v, CallArgs& args) {
  auto a = bind_args(args, "tojson", {"ensure_ascii", "indent", "separators", "sort_keys"},
                     {Value::boolean(false), Value::none(), Value::none(), Value::boolean(false)});
  std::optional<std::string> indent;
  if (a[1].is_string()) {
    indent = a[1].as_string();
  } else if (!a[1].is_none()) {
    indent = std::string(std::max<int64_t>(0, int_arg(a[1], "indent")), ' ');
  }
  std::string item_sep = indent ? "," : ", ", key_sep = ": ";
  if (!a[2].is_none()) {
    const List seps = in.iterate(a[2]);
    if (seps.size() != 2) fail("ValueError: separators must be a (item_separator, key_separator) pair");
    item_sep = soft_str(seps[0]);
    key_sep = soft_str(seps[1]);
  }
  return in.make_string(json_dumps(in, v, indent, item_sep, key_sep, a[3].truthy(), a[0].truthy()));
}

Value f_attr(Interpreter& in, const Value& v, CallArgs& args) {
  auto a = bind_args(args, "attr", {"name"}, {Value()});
  return in.get_attr(v, soft_str(a[0]));
}

}  // namespace

int64_t int_arg(const Value& v, const char* what) {
  if (v.is_int() || v.is_bool()) return v.as_int();
  if (v.is_undefined()) v.fail_undefined();
  fail(std::string("TypeError: '") + what + "' must be an integer, not " + v.type_name());
}

Value get_attribute_path(Interpreter& interp, const Value& item, const Value& attribute, const Value& dflt) {
  if (attribute.is_none() || attribute.is_required_marker()) return item;
  Value cur = item;
  if (!attribute.is_string()) {
    cur = interp.get_item(cur, attribute);
  } else {
    const std::string& path = attribute.as_string();
    size_t start = 0;
    while (true) {
      const size_t dot = path.find('.', start);
      const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      const bool digits = !part.empty() && part.find_first_not_of("0123456789") == std::string::npos;
      cur = interp.get_item(cur, digits ? Value::integer(std::stoll(part)) : Value::string(part));
      if (!dflt.is_required_marker() && !dflt.is_none() && cur.is_undefined()) cur = dflt;
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    return cur;
  }
  if (!dflt.is_required_marker() && !dflt.is_none() && cur.is_undefined()) cur = dflt;
  return cur;
}

FilterFn find_seq_filter(const std::string& name);  // filters_seq.cc

FilterFn find_filter(const std::string& name) {
  static const std::unordered_map<std::string, FilterFn> kFilters = {
      {"length", f_length},   {"count", f_length},        {"upper", f_upper},   {"lower", f_lower},
      {"capitalize", f_capitalize}, {"title", f_title},   {"trim", f_trim},     {"string", f_string},
      {"safe", f_safe},       {"e", f_escape},            {"escape", f_escape}, {"forceescape", f_escape},
      {"replace", f_replace}, {"default", f_default},     {"d", f_default},     {"indent", f_indent},
      {"center", f_center},   {"wordcount", f_wordcount}, {"format", f_format}, {"truncate", f_truncate},
      {"int", f_int},         {"float", f_float},         {"abs", f_abs},       {"round", f_round},
      {"tojson", f_tojson},   {"attr", f_attr},
  };
  const auto it = kFilters.find(name);
  if (it != kFilters.end()) return it->second;
  return find_seq_filter(name);
}

}  // namespace lmd::jinja
