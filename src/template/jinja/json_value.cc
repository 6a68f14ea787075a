// JSON context -> template values, and transformers' `tojson` filter:
//   json.dumps(x, ensure_ascii=False, indent=indent, separators=separators, sort_keys=sort_keys)
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "template/jinja/builtins.h"
#include "template/jinja/interpreter.h"
#include "template/jinja/py_format.h"

namespace lmd::jinja {

namespace {

Value from_json(const nlohmann::ordered_json& j, int depth) {
  if (depth > kMaxValueDepth) fail("context nesting exceeds " + std::to_string(kMaxValueDepth) + " levels");
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null:
      return Value::none();
    case nlohmann::ordered_json::value_t::boolean:
      return Value::boolean(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer:
      return Value::integer(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      const uint64_t u = j.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) fail("context integer " + std::to_string(u) + " does not fit in 64 bits");
      return Value::integer(static_cast<int64_t>(u));
    }
    case nlohmann::ordered_json::value_t::number_float:
      return Value::floating(j.get<double>());
    case nlohmann::ordered_json::value_t::string:
      return Value::string(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      List items;
      items.reserve(j.size());
      for (const auto& e : j) items.push_back(from_json(e, depth + 1));
      return Value::list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      auto d = std::make_shared<Dict>();
      d->items.reserve(j.size());
      for (const auto& [k, v] : j.items()) d->items.emplace_back(Value::string(k), from_json(v, depth + 1));
      return Value::dict(std::move(d));
    }
    default:
      fail("unsupported JSON value in the context (binary)");
  }
}

void append_json_string(std::string& out, const std::string& s, bool ensure_ascii) {
  out += '"';
  for (uint32_t cp : utf8_decode(s)) {
    char buf[16];
    switch (cp) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      case '\b': out += "\\b"; continue;
      case '\f': out += "\\f"; continue;
      default: break;
    }
    if (cp < 0x20 || (ensure_ascii && cp >= 0x7f)) {
      if (cp >= 0x10000) {
        const uint32_t v = cp - 0x10000;
        std::snprintf(buf, sizeof(buf), "\\u%04x\\u%04x", 0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
      } else {
        std::snprintf(buf, sizeof(buf), "\\u%04x", cp);
      }
      out += buf;
    } else {
      utf8_append(out, cp);
    }
  }
  out += '"';
}

std::string json_float(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d < 0 ? "-Infinity" : "Infinity";
  return float_repr(d);
}

struct JsonWriter {
  Interpreter& interp;
  const std::optional<std::string>& indent;
  const std::string& item_sep;
  const std::string& key_sep;
  bool sort_keys;
  bool ensure_ascii;
  std::string out;

  void newline(int level) {
    if (!indent) return;
    out += '\n';
    for (int i = 0; i < level; ++i) out += *indent;
  }

  std::string key_text(const Value& k) {
    switch (k.kind()) {
      case Value::Kind::kString: return k.as_string();
      case Value::Kind::kInt: return std::to_string(k.as_int());
      case Value::Kind::kFloat: return json_float(k.as_float());
      case Value::Kind::kBool: return k.as_bool() ? "true" : "false";
      case Value::Kind::kNone: return "null";
      default: fail("TypeError: keys must be str, int, float, bool or None, not " + k.type_name());
    }
  }

  void write(const Value& v, int level) {
    if (out.size() > interp.options().max_output_bytes) {
      fail("tojson output exceeds max_output_bytes (" + std::to_string(interp.options().max_output_bytes) + ")");
    }
    switch (v.kind()) {
      case Value::Kind::kNone: out += "null"; return;
      case Value::Kind::kBool: out += v.as_bool() ? "true" : "false"; return;
      case Value::Kind::kInt: out += std::to_string(v.as_int()); return;
      case Value::Kind::kFloat: out += json_float(v.as_float()); return;
      case Value::Kind::kString: append_json_string(out, v.as_string(), ensure_ascii); return;
      case Value::Kind::kList:
      case Value::Kind::kTuple: {
        const List& items = v.as_list();
        interp.charge(items.size());
        if (items.empty()) {
          out += "[]";
          return;
        }
        out += '[';
        for (size_t i = 0; i < items.size(); ++i) {
          if (i) out += item_sep;
          newline(level + 1);
          write(items[i], level + 1);
        }
        newline(level);
        out += ']';
        return;
      }
      case Value::Kind::kDict: {
        std::vector<std::pair<std::string, const Value*>> entries;
        for (const auto& [k, val] : v.as_dict().items) entries.emplace_back(key_text(k), &val);
        interp.charge(entries.size());
        if (sort_keys) {
          std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
        }
        if (entries.empty()) {
          out += "{}";
          return;
        }
        out += '{';
        for (size_t i = 0; i < entries.size(); ++i) {
          if (i) out += item_sep;
          newline(level + 1);
          append_json_string(out, entries[i].first, ensure_ascii);
          out += key_sep;
          write(*entries[i].second, level + 1);
        }
        newline(level);
        out += '}';
        return;
      }
      default:
        fail("TypeError: Object of type " + v.type_name() + " is not JSON serializable");
    }
  }
};

}  // namespace

Value json_to_value(const nlohmann::ordered_json& j) { return from_json(j, 0); }

std::string json_dumps(Interpreter& interp, const Value& v, const std::optional<std::string>& indent,
                       const std::string& item_sep, const std::string& key_sep, bool sort_keys, bool ensure_ascii) {
  JsonWriter w{interp, indent, item_sep, key_sep, sort_keys, ensure_ascii, {}};
  w.write(v, 0);
  return w.out;
}

}  // namespace lmd::jinja
