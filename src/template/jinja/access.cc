// Attribute access, subscripts, slicing and iteration with jinja2 sandbox semantics
// (SandboxedEnvironment.getattr / getitem, ImmutableSandboxedEnvironment's refusals).
#include "template/jinja/builtins.h"
#include "template/jinja/interpreter.h"
#include "template/jinja/py_format.h"

namespace lmd::jinja {

namespace {

// jinja2's object_type_repr: "dict object", "None", ...
std::string object_type_repr(const Value& obj) {
  if (obj.is_none()) return "None";
  return obj.type_name() + " object";
}

Value unsafe(const Value& obj, const std::string& name) {
  return Value::undefined("access to attribute '" + name + "' of '" + obj.type_name() + "' object is unsafe.", true);
}

Value missing_attr(const Value& obj, const std::string& name) {
  return Value::undefined("'" + object_type_repr(obj) + "' has no attribute '" + name + "'");
}

// Python's getattr on data values: a method, a refused method, or nothing.
bool python_attr(const Value& obj, const std::string& name, Value* out) {
  if (name.size() > 1 && name[0] == '_' && name[1] == '_') {
    *out = unsafe(obj, name);  // dunders (__class__, __dict__, ...) exist on every object
    return true;
  }
  switch (find_method(obj, name, out)) {
    case MethodLookup::kMethod:
      return true;
    case MethodLookup::kUnsafe:
      *out = unsafe(obj, name);
      return true;
    case MethodLookup::kNone:
      return false;
  }
  return false;
}

// Python index normalisation: a negative index counts from the end; false when out of range.
bool normalize_index(int64_t& i, size_t size) {
  if (i < 0) i += static_cast<int64_t>(size);
  return i >= 0 && i < static_cast<int64_t>(size);
}

}  // namespace

Value Interpreter::get_attr(const Value& obj, const std::string& name) {
  if (obj.is_undefined()) obj.fail_undefined();
  if (obj.is_object()) {
    if (!name.empty() && name[0] == '_') return unsafe(obj, name);
    return obj.as_object().get_attr(name);
  }
  Value method;
  if (python_attr(obj, name, &method)) return method;
  if (obj.is_dict()) {
    if (const Value* v = obj.as_dict().find(name)) return *v;
  }
  return missing_attr(obj, name);
}

Value Interpreter::get_item(const Value& obj, const Value& key) {
  if (obj.is_undefined()) obj.fail_undefined();
  if (obj.is_dict()) {
    if (key.is_list() || key.is_dict()) fail("TypeError: unhashable type: '" + key.type_name() + "'");
    if (const Value* v = obj.as_dict().find(key)) return *v;
  } else if ((obj.is_sequence() || obj.is_string()) && (key.is_int() || key.is_bool())) {
    int64_t i = key.as_int();
    if (obj.is_string()) {
      const std::vector<uint32_t> cps = utf8_decode(obj.as_string());
      if (normalize_index(i, cps.size())) return Value::string(utf8_encode({cps[i]}));
    } else if (normalize_index(i, obj.as_list().size())) {
      return obj.as_list()[i];
    }
  } else if (obj.is_object() && key.is_string()) {
    if (!key.as_string().empty() && key.as_string()[0] == '_') return unsafe(obj, key.as_string());
    return obj.as_object().get_attr(key.as_string());
  }
  if (key.is_string()) {
    Value method;
    if (!obj.is_object() && python_attr(obj, key.as_string(), &method)) return method;
    return missing_attr(obj, key.as_string());
  }
  return Value::undefined("'" + object_type_repr(obj) + "' has no element " + to_repr(key));
}

List Interpreter::iterate(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      if (v.undefined_is_unsafe()) v.fail_undefined();
      return {};
    case Value::Kind::kList:
    case Value::Kind::kTuple:
    case Value::Kind::kIterator:
      charge(v.as_list().size());
      return v.as_list();
    case Value::Kind::kDict: {
      List keys;
      for (const auto& kv : v.as_dict().items) keys.push_back(kv.first);
      charge(keys.size());
      return keys;
    }
    case Value::Kind::kString: {
      List chars;
      for (uint32_t cp : utf8_decode(v.as_string())) chars.push_back(Value::string(utf8_encode({cp})));
      charge(chars.size());
      return chars;
    }
    default:
      fail("TypeError: '" + v.type_name() + "' object is not iterable");
  }
}

Value slice_value(Interpreter& interp, const Value& obj, const Value& start, const Value& stop, const Value& step) {
  if (obj.is_undefined()) obj.fail_undefined();
  auto as_index = [](const Value& v, const char* what) -> std::optional<int64_t> {
    if (v.is_none()) return std::nullopt;
    if (v.is_int() || v.is_bool()) return v.as_int();
    if (v.is_undefined()) v.fail_undefined();
    fail(std::string("TypeError: slice ") + what + " must be an integer or None, not " + v.type_name());
  };
  const auto st = as_index(step, "step");
  const int64_t s = st.value_or(1);
  if (s == 0) fail("ValueError: slice step cannot be zero");
  if (!obj.is_sequence() && !obj.is_string()) {
    if (obj.is_dict()) fail("TypeError: unhashable type: 'slice'");
    return Value::undefined("'" + object_type_repr(obj) + "' has no element slice");
  }
  std::vector<uint32_t> cps;
  if (obj.is_string()) cps = utf8_decode(obj.as_string());
  const int64_t n = obj.is_string() ? static_cast<int64_t>(cps.size()) : static_cast<int64_t>(obj.as_list().size());
  // Python's PySlice_AdjustIndices.
  auto adjust = [&](std::optional<int64_t> v, int64_t dflt) {
    if (!v) return dflt;
    int64_t i = *v;
    if (i < 0) {
      i += n;
      if (i < 0) i = s < 0 ? -1 : 0;
    } else if (i >= n) {
      i = s < 0 ? n - 1 : n;
    }
    return i;
  };
  const int64_t b = adjust(as_index(start, "start"), s < 0 ? n - 1 : 0);
  const int64_t e = adjust(as_index(stop, "stop"), s < 0 ? -1 : n);
  std::vector<int64_t> picks;
  for (int64_t i = b; s > 0 ? i < e : i > e; i += s) picks.push_back(i);
  interp.charge(picks.size());
  if (obj.is_string()) {
    std::string out;
    for (int64_t i : picks) utf8_append(out, cps[i]);
    return Value::string(std::move(out));
  }
  List out;
  out.reserve(picks.size());
  for (int64_t i : picks) out.push_back(obj.as_list()[i]);
  return obj.is_tuple() ? Value::tuple(std::move(out)) : Value::list(std::move(out));
}

}  // namespace lmd::jinja
