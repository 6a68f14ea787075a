// jinja2's tests (`x is defined`, `x is divisibleby 3`, ...).
#include <unordered_map>

#include "template/jinja/filter_util.h"

namespace lmd::jinja {

namespace {

void no_args(const CallArgs& args, const char* name) { bind_args(args, name, {}, {}); }
Value one_arg(const CallArgs& args, const char* name, const char* param) {
  return bind_args(args, name, {param}, {Value()})[0];
}

bool t_defined(Interpreter&, const Value& v, CallArgs& a) { return no_args(a, "defined"), !v.is_undefined(); }
bool t_undefined(Interpreter&, const Value& v, CallArgs& a) { return no_args(a, "undefined"), v.is_undefined(); }
bool t_none(Interpreter&, const Value& v, CallArgs& a) { return no_args(a, "none"), v.is_none(); }
bool t_boolean(Interpreter&, const Value& v, CallArgs& a) { return no_args(a, "boolean"), v.is_bool(); }
bool t_true(Interpreter&, const Value& v, CallArgs& a) { return no_args(a, "true"), v.is_bool() && v.as_bool(); }
bool t_false(Interpreter&, const Value& v, CallArgs& a) { return no_args(a, "false"), v.is_bool() && !v.as_bool(); }
bool t_integer(Interpreter&, const Value& v, CallArgs& a) { return no_args(a, "integer"), v.is_int(); }
bool t_float(Interpreter&, const Value& v, CallArgs& a) { return no_args(a, "float"), v.is_float(); }
bool t_number(Interpreter&, const Value& v, CallArgs& a) { return no_args(a, "number"), v.is_number(); }
bool t_string(Interpreter&, const Value& v, CallArgs& a) { return no_args(a, "string"), v.is_string(); }
bool t_mapping(Interpreter&, const Value& v, CallArgs& a) { return no_args(a, "mapping"), v.is_dict(); }
bool t_sequence(Interpreter&, const Value& v, CallArgs& a) {
  no_args(a, "sequence");
  return v.is_string() || v.is_sequence() || v.is_dict() || (v.is_undefined() && !v.undefined_is_unsafe());
}
bool t_iterable(Interpreter&, const Value& v, CallArgs& a) {
  no_args(a, "iterable");
  return v.is_string() || v.is_sequence() || v.is_dict() || v.is_iterator() || v.is_undefined();
}
bool t_callable(Interpreter&, const Value& v, CallArgs& a) {
  no_args(a, "callable");
  return v.is_object() && v.as_object().callable();
}
bool t_escaped(Interpreter&, const Value&, CallArgs& a) { return no_args(a, "escaped"), false; }

bool is_odd(Interpreter& in, const Value& v) {
  return binary_op(in, "%", v, Value::integer(2)).truthy();
}
bool t_odd(Interpreter& in, const Value& v, CallArgs& a) { return no_args(a, "odd"), is_odd(in, v); }
bool t_even(Interpreter& in, const Value& v, CallArgs& a) { return no_args(a, "even"), !is_odd(in, v); }
bool t_divisibleby(Interpreter& in, const Value& v, CallArgs& a) {
  const Value num = one_arg(a, "divisibleby", "num");
  return equals(binary_op(in, "%", v, num), Value::integer(0));
}

bool t_eq(Interpreter& in, const Value& v, CallArgs& a) { return compare(in, "==", v, one_arg(a, "eq", "other")); }
bool t_ne(Interpreter& in, const Value& v, CallArgs& a) { return compare(in, "!=", v, one_arg(a, "ne", "other")); }
bool t_lt(Interpreter& in, const Value& v, CallArgs& a) { return compare(in, "<", v, one_arg(a, "lt", "other")); }
bool t_le(Interpreter& in, const Value& v, CallArgs& a) { return compare(in, "<=", v, one_arg(a, "le", "other")); }
bool t_gt(Interpreter& in, const Value& v, CallArgs& a) { return compare(in, ">", v, one_arg(a, "gt", "other")); }
bool t_ge(Interpreter& in, const Value& v, CallArgs& a) { return compare(in, ">=", v, one_arg(a, "ge", "other")); }
bool t_in(Interpreter& in, const Value& v, CallArgs& a) { return contains(in, one_arg(a, "in", "seq"), v); }

bool t_sameas(Interpreter&, const Value& v, CallArgs& a) {
  const Value other = one_arg(a, "sameas", "other");
  if (v.kind() != other.kind()) return false;
  switch (v.kind()) {
    case Value::Kind::kNone:
    case Value::Kind::kUndefined:
      return true;
    case Value::Kind::kBool:
      return v.as_bool() == other.as_bool();
    case Value::Kind::kInt:  // CPython caches small ints
      return v.as_int() == other.as_int() && v.as_int() >= -5 && v.as_int() <= 256;
    case Value::Kind::kString:
      return v.as_string() == other.as_string();
    case Value::Kind::kDict:
      return v.dict_ptr() == other.dict_ptr();
    case Value::Kind::kObject:
      return v.object_ptr() == other.object_ptr();
    case Value::Kind::kList:
    case Value::Kind::kTuple:
    case Value::Kind::kIterator:
      return &v.as_list() == &other.as_list();
    default:
      return false;
  }
}

// str.islower() / str.isupper(): at least one cased character, none of the other case.
bool case_test(const Value& v, bool want_lower) {
  bool cased = false;
  for (uint32_t cp : utf8_decode(to_str(v))) {
    if (is_cased_upper(cp)) {
      if (want_lower) return false;
      cased = true;
    } else if (is_cased_lower(cp)) {
      if (!want_lower) return false;
      cased = true;
    }
  }
  return cased;
}
bool t_lower(Interpreter&, const Value& v, CallArgs& a) { return no_args(a, "lower"), case_test(v, true); }
bool t_upper(Interpreter&, const Value& v, CallArgs& a) { return no_args(a, "upper"), case_test(v, false); }

bool t_filter(Interpreter&, const Value& v, CallArgs& a) {
  no_args(a, "filter");
  return v.is_string() && find_filter(v.as_string()) != nullptr;
}
bool t_test(Interpreter&, const Value& v, CallArgs& a) {
  no_args(a, "test");
  return v.is_string() && find_test(v.as_string()) != nullptr;
}

}  // namespace

TestFn find_test(const std::string& name) {
  static const std::unordered_map<std::string, TestFn> kTests = {
      {"defined", t_defined}, {"undefined", t_undefined}, {"none", t_none},       {"boolean", t_boolean},
      {"true", t_true},       {"false", t_false},         {"integer", t_integer}, {"float", t_float},
      {"number", t_number},   {"string", t_string},       {"mapping", t_mapping}, {"sequence", t_sequence},
      {"iterable", t_iterable}, {"callable", t_callable}, {"escaped", t_escaped}, {"odd", t_odd},
      {"even", t_even},       {"divisibleby", t_divisibleby},
      {"eq", t_eq},           {"equalto", t_eq},          {"==", t_eq},           {"ne", t_ne},
      {"!=", t_ne},           {"lt", t_lt},               {"lessthan", t_lt},     {"<", t_lt},
      {"le", t_le},           {"<=", t_le},               {"gt", t_gt},           {"greaterthan", t_gt},
      {">", t_gt},            {"ge", t_ge},               {">=", t_ge},           {"in", t_in},
      {"sameas", t_sameas},   {"lower", t_lower},         {"upper", t_upper},     {"filter", t_filter},
      {"test", t_test},
  };
  const auto it = kTests.find(name);
  return it == kTests.end() ? nullptr : it->second;
}

}  // namespace lmd::jinja
