// Python methods templates call on data: str (startswith, split, strip, replace, find, ...),
// dict (items, keys, values, get, copy) and list / tuple (count, index, copy). The methods
// ImmutableSandboxedEnvironment forbids (they mutate) are reported as unsafe.
#include <algorithm>
#include <set>

#include "template/jinja/filter_util.h"

namespace lmd::jinja {

namespace {

const std::string& str_arg(const Value& v, const std::string& method) {
  if (!v.is_string()) {
    if (v.is_undefined()) v.fail_undefined();
    fail("TypeError: " + method + "() argument must be str, not " + v.type_name());
  }
  return v.as_string();
}

// Python's start / end arguments of find / count / startswith, as code-point offsets.
void clamp_range(const Value& start, const Value& end, size_t n, size_t& b, size_t& e) {
  auto fix = [n](const Value& v, size_t dflt) -> size_t {
    if (v.is_none() || v.is_required_marker()) return dflt;
    int64_t i = int_arg(v, "index");
    if (i < 0) i = std::max<int64_t>(0, i + static_cast<int64_t>(n));
    return static_cast<size_t>(std::min<int64_t>(i, static_cast<int64_t>(n)));
  };
  b = fix(start, 0);
  e = fix(end, n);
}

// Code-point index of `sub` in cps[b, e), or -1 (from the right when `last`).
int64_t find_cps(const std::vector<uint32_t>& cps, const std::vector<uint32_t>& sub, size_t b, size_t e, bool last) {
  if (e < b || e - b < sub.size()) return -1;
  int64_t found = -1;
  for (size_t i = b; i + sub.size() <= e; ++i) {
    if (std::equal(sub.begin(), sub.end(), cps.begin() + i)) {
      found = static_cast<int64_t>(i);
      if (!last) break;
    }
  }
  return found;
}

bool affix_match(const std::string& s, const Value& affix, const Value& start, const Value& end, bool prefix,
                 const std::string& method) {
  const std::vector<uint32_t> cps = utf8_decode(s);
  size_t b, e;
  clamp_range(start, end, cps.size(), b, e);
  auto one = [&](const Value& a) {
    const std::vector<uint32_t> x = utf8_decode(str_arg(a, method));
    if (e < b || e - b < x.size()) return false;
    return prefix ? std::equal(x.begin(), x.end(), cps.begin() + b) : std::equal(x.begin(), x.end(), cps.begin() + (e - x.size()));
  };
  if (affix.is_tuple()) {
    return std::any_of(affix.as_list().begin(), affix.as_list().end(), one);
  }
  return one(affix);
}

Value string_list(Interpreter& in, const std::vector<std::string>& parts) {
  List out;
  for (const auto& p : parts) out.push_back(Value::string(p));
  return in.make_list(std::move(out));
}

bool all_chars(const std::string& s, bool (*pred)(uint32_t)) {
  const std::vector<uint32_t> cps = utf8_decode(s);
  return !cps.empty() && std::all_of(cps.begin(), cps.end(), pred);
}

Value str_method(Interpreter& in, const BuiltinFunction& fn, CallArgs& args) {
  const std::string& m = fn.name();
  const std::string& s = fn.self().as_string();
  if (m == "startswith" || m == "endswith") {
    auto a = bind_args(args, m, {"affix", "start", "end"}, {Value(), Value::none(), Value::none()});
    return Value::boolean(affix_match(s, a[0], a[1], a[2], m == "startswith", m));
  }
  if (m == "split" || m == "rsplit") {
    auto a = bind_args(args, m, {"sep", "maxsplit"}, {Value::none(), Value::integer(-1)});
    const std::string* sep = a[0].is_none() ? nullptr : &str_arg(a[0], m);
    return string_list(in, str_split(s, sep, int_arg(a[1], "maxsplit"), m == "rsplit"));
  }
  if (m == "strip" || m == "lstrip" || m == "rstrip") {
    auto a = bind_args(args, m, {"chars"}, {Value::none()});
    const std::string* chars = a[0].is_none() ? nullptr : &str_arg(a[0], m);
    return in.make_string(str_strip(s, chars, m != "rstrip", m != "lstrip"));
  }
  if (m == "upper" || m == "lower" || m == "title" || m == "capitalize" || m == "splitlines" || m == "isdigit" ||
      m == "isalpha" || m == "isalnum" || m == "isspace" || m == "islower" || m == "isupper") {
    bind_args(args, m, {}, {});
    if (m == "upper") return in.make_string(str_upper(s));
    if (m == "lower") return in.make_string(str_lower(s));
    if (m == "title") return in.make_string(str_title(s));
    if (m == "capitalize") return in.make_string(str_capitalize(s));
    if (m == "splitlines") return string_list(in, str_splitlines(s));
    if (m == "isdigit") return Value::boolean(all_chars(s, [](uint32_t c) { return c >= '0' && c <= '9'; }));
    if (m == "isalpha") {
      return Value::boolean(all_chars(s, [](uint32_t c) { return py_isalnum(c) && !(c >= '0' && c <= '9'); }));
    }
    if (m == "isalnum") return Value::boolean(all_chars(s, py_isalnum));
    if (m == "isspace") return Value::boolean(all_chars(s, py_isspace));
    CallArgs none;
    return Value::boolean(in.apply_test(m == "islower" ? "lower" : "upper", fn.self(), none));
  }
  if (m == "replace") {
    auto a = bind_args(args, m, {"old", "new", "count"}, {Value(), Value(), Value::integer(-1)});
    return in.make_string(str_replace(s, str_arg(a[0], m), str_arg(a[1], m), int_arg(a[2], "count")));
  }
  if (m == "find" || m == "rfind" || m == "index" || m == "rindex" || m == "count") {
    auto a = bind_args(args, m, {"sub", "start", "end"}, {Value(), Value::none(), Value::none()});
    const std::vector<uint32_t> cps = utf8_decode(s);
    const std::vector<uint32_t> sub = utf8_decode(str_arg(a[0], m));
    size_t b, e;
    clamp_range(a[1], a[2], cps.size(), b, e);
    in.charge(cps.size());
    if (m == "count") {
      if (sub.empty()) return Value::integer(e >= b ? static_cast<int64_t>(e - b + 1) : 0);
      int64_t n = 0;
      for (size_t i = b; e >= sub.size() && i + sub.size() <= e;) {
        if (std::equal(sub.begin(), sub.end(), cps.begin() + i)) {
          ++n;
          i += sub.size();
        } else {
          ++i;
        }
      }
      return Value::integer(n);
    }
    const int64_t at = find_cps(cps, sub, b, e, m[0] == 'r');
    if (at < 0 && (m == "index" || m == "rindex")) fail("ValueError: substring not found");
    return Value::integer(at);
  }
  if (m == "join") {
    auto a = bind_args(args, m, {"iterable"}, {Value()});
    std::string out;
    bool first = true;
    for (const auto& item : in.iterate(a[0])) {
      if (!item.is_string()) fail("TypeError: sequence item: expected str instance, " + item.type_name() + " found");
      if (!first) out += s;
      first = false;
      out += item.as_string();
      if (out.size() > in.options().max_output_bytes) break;
    }
    return in.make_string(std::move(out));
  }
  if (m == "removeprefix" || m == "removesuffix") {
    auto a = bind_args(args, m, {"affix"}, {Value()});
    const std::string& x = str_arg(a[0], m);
    if (m == "removeprefix" && s.compare(0, x.size(), x) == 0) return Value::string(s.substr(x.size()));
    if (m == "removesuffix" && !x.empty() && s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0) {
      return Value::string(s.substr(0, s.size() - x.size()));
    }
    return fn.self();
  }
  if (m == "center") {
    auto a = bind_args(args, m, {"width"}, {Value()});
    CallArgs pass;
    pass.positional.push_back(a[0]);
    return in.apply_filter("center", fn.self(), pass);
  }
  fail("internal error: unknown str method " + m);
}

Value dict_method(Interpreter& in, const BuiltinFunction& fn, CallArgs& args) {
  const std::string& m = fn.name();
  const Dict& d = fn.self().as_dict();
  if (m == "get") {
    auto a = bind_args(args, m, {"key", "default"}, {Value(), Value::none()});
    if (a[0].is_list() || a[0].is_dict()) fail("TypeError: unhashable type: '" + a[0].type_name() + "'");
    const Value* v = d.find(a[0]);
    return v ? *v : a[1];
  }
  bind_args(args, m, {}, {});
  if (m == "copy") return Value::dict(std::make_shared<Dict>(d));
  List out;
  for (const auto& [k, v] : d.items) {
    if (m == "keys") out.push_back(k);
    else if (m == "values") out.push_back(v);
    else out.push_back(Value::tuple({k, v}));
  }
  return in.make_list(std::move(out));
}

Value list_method(Interpreter& in, const BuiltinFunction& fn, CallArgs& args) {
  const std::string& m = fn.name();
  const List& items = fn.self().as_list();
  if (m == "copy") {
    bind_args(args, m, {}, {});
    return in.make_list(items, fn.self().is_tuple());
  }
  auto a = bind_args(args, m, {"value"}, {Value()});
  in.charge(items.size());
  if (m == "count") return Value::integer(std::count_if(items.begin(), items.end(), [&](const Value& v) { return equals(v, a[0]); }));
  for (size_t i = 0; i < items.size(); ++i) {
    if (equals(items[i], a[0])) return Value::integer(static_cast<int64_t>(i));
  }
  fail("ValueError: " + to_repr(a[0]) + " is not in " + fn.self().type_name());
}

}  // namespace

MethodLookup find_method(const Value& obj, const std::string& name, Value* out) {
  static const std::set<std::string> kStr = {
      "startswith", "endswith", "split", "rsplit", "strip", "lstrip", "rstrip", "upper", "lower", "title",
      "capitalize", "replace", "find", "rfind", "index", "rindex", "count", "join", "splitlines", "isdigit",
      "isalpha", "isalnum", "isspace", "islower", "isupper", "removeprefix", "removesuffix", "center"};
  static const std::set<std::string> kDict = {"items", "keys", "values", "get", "copy"};
  static const std::set<std::string> kDictMutating = {"update", "pop", "popitem", "clear", "setdefault"};
  static const std::set<std::string> kList = {"count", "index", "copy"};
  static const std::set<std::string> kListMutating = {"append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear"};
  BuiltinFunction::Fn fn = nullptr;
  if (obj.is_string() && kStr.count(name)) {
    fn = str_method;
  } else if (obj.is_dict()) {
    if (kDictMutating.count(name)) return MethodLookup::kUnsafe;
    if (kDict.count(name)) fn = dict_method;
  } else if (obj.is_list() || obj.is_tuple()) {
    if (obj.is_list() && kListMutating.count(name)) return MethodLookup::kUnsafe;
    if (kList.count(name) && !(obj.is_tuple() && name == "copy")) fn = list_method;
  }
  if (!fn) return MethodLookup::kNone;
  *out = Value::object(std::make_shared<BuiltinFunction>(name, fn, obj));
  return MethodLookup::kMethod;
}

}  // namespace lmd::jinja
