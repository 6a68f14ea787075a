#include "template/jinja/value.h"

#include <algorithm>

#include "template/jinja/object.h"
#include "template/jinja/py_format.h"

namespace lmd::jinja {

void fail(const std::string& message) { throw Failure{message}; }

Value Value::undefined(std::string hint, bool unsafe) {
  Value v;
  v.s_ = std::make_shared<const std::string>(std::move(hint));
  v.b_ = unsafe;
  return v;
}
Value Value::none() {
  Value v;
  v.kind_ = Kind::kNone;
  return v;
}
Value Value::boolean(bool b) {
  Value v;
  v.kind_ = Kind::kBool;
  v.b_ = b;
  v.i_ = b ? 1 : 0;
  return v;
}
Value Value::integer(int64_t i) {
  Value v;
  v.kind_ = Kind::kInt;
  v.i_ = i;
  return v;
}
Value Value::floating(double d) {
  Value v;
  v.kind_ = Kind::kFloat;
  v.d_ = d;
  return v;
}
Value Value::string(std::string s) {
  Value v;
  v.kind_ = Kind::kString;
  v.s_ = std::make_shared<const std::string>(std::move(s));
  return v;
}
void Value::set_depth_from(const List& items) {
  int d = 0;
  for (const auto& item : items) d = std::max(d, item.depth());
  if (d + 1 > kMaxValueDepth) fail("value nesting exceeds " + std::to_string(kMaxValueDepth) + " levels");
  depth_ = static_cast<uint16_t>(d + 1);
}

Value Value::list(List items) {
  Value v;
  v.kind_ = Kind::kList;
  v.set_depth_from(items);
  v.l_ = std::make_shared<const List>(std::move(items));
  return v;
}
Value Value::tuple(List items) {
  Value v = list(std::move(items));
  v.kind_ = Kind::kTuple;
  return v;
}
Value Value::iterator(List items, std::string type_name) {
  Value v = list(std::move(items));
  v.kind_ = Kind::kIterator;
  v.s_ = std::make_shared<const std::string>(std::move(type_name));
  return v;
}

Value Value::dict(std::shared_ptr<Dict> d) {
  Value v;
  v.kind_ = Kind::kDict;
  int depth = 0;
  for (const auto& kv : d->items) depth = std::max({depth, kv.first.depth(), kv.second.depth()});
  if (depth + 1 > kMaxValueDepth) fail("value nesting exceeds " + std::to_string(kMaxValueDepth) + " levels");
  v.depth_ = static_cast<uint16_t>(depth + 1);
  v.m_ = std::move(d);
  return v;
}
Value Value::object(std::shared_ptr<Object> o) {
  Value v;
  v.kind_ = Kind::kObject;
  v.o_ = std::move(o);
  return v;
}

const std::string& Value::undefined_hint() const {
  static const std::string kEmpty;
  return s_ ? *s_ : kEmpty;
}

void Value::fail_undefined() const {
  const std::string hint = s_ ? *s_ : std::string();
  if (b_) fail("SecurityError: " + hint);
  fail("UndefinedError: " + (hint.empty() ? std::string("undefined value") : hint));
}

bool Value::truthy() const {
  switch (kind_) {
    case Kind::kUndefined:
    case Kind::kNone:
      return false;
    case Kind::kBool:
      return b_;
    case Kind::kInt:
      return i_ != 0;
    case Kind::kFloat:
      return d_ != 0.0;
    case Kind::kString:
      return !s_->empty();
    case Kind::kList:
    case Kind::kTuple:
      return !l_->empty();
    case Kind::kDict:
      return !m_->items.empty();
    case Kind::kObject:
    case Kind::kIterator:
      return true;
  }
  return false;
}

std::string Value::type_name() const {
  switch (kind_) {
    case Kind::kUndefined: return "Undefined";
    case Kind::kNone: return "NoneType";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
    case Kind::kFloat: return "float";
    case Kind::kString: return "str";
    case Kind::kList: return "list";
    case Kind::kTuple: return "tuple";
    case Kind::kDict: return "dict";
    case Kind::kObject: return o_->type_name();
    case Kind::kIterator: return *s_;
  }
  return "object";
}

const Value* Dict::find(const Value& key) const {
  if (key.is_string()) return find(key.as_string());
  for (const auto& kv : items) {
    if (equals(kv.first, key)) return &kv.second;
  }
  return nullptr;
}

const Value* Dict::find(const std::string& key) const {
  for (const auto& kv : items) {
    if (kv.first.is_string() && kv.first.as_string() == key) return &kv.second;
  }
  return nullptr;
}

void Dict::set(const Value& key, Value value) {
  for (auto& kv : items) {
    if (equals(kv.first, key)) {
      kv.second = std::move(value);
      return;
    }
  }
  items.emplace_back(key, std::move(value));
}

bool equals(const Value& a, const Value& b) {
  using K = Value::Kind;
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_float() == b.as_float();
    return a.as_int() == b.as_int();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case K::kUndefined:
    case K::kNone:
      return true;
    case K::kString:
      return a.as_string() == b.as_string();
    case K::kList:
    case K::kTuple: {
      const List& x = a.as_list();
      const List& y = b.as_list();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!equals(x[i], y[i])) return false;
      }
      return true;
    }
    case K::kDict: {
      const Dict& x = a.as_dict();
      const Dict& y = b.as_dict();
      if (x.items.size() != y.items.size()) return false;
      for (const auto& kv : x.items) {
        const Value* other = y.find(kv.first);
        if (!other || !equals(kv.second, *other)) return false;
      }
      return true;
    }
    case K::kObject:
      return a.object_ptr() == b.object_ptr();
    case K::kIterator:
      return &a.as_list() == &b.as_list();
    default:
      return false;
  }
}

bool less_than(const Value& a, const Value& b) {
  if (a.is_undefined()) a.fail_undefined();
  if (b.is_undefined()) b.fail_undefined();
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_float() < b.as_float();
    return a.as_int() < b.as_int();
  }
  if (a.is_string() && b.is_string()) return a.as_string() < b.as_string();  // UTF-8 order == code point order
  if (a.kind() == b.kind() && a.is_sequence()) {
    const List& x = a.as_list();
    const List& y = b.as_list();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!equals(x[i], y[i])) return less_than(x[i], y[i]);
    }
    return x.size() < y.size();
  }
  fail("TypeError: '<' not supported between instances of '" + a.type_name() + "' and '" + b.type_name() + "'");
}

namespace {
void append_repr(std::string& out, const Value& v);

void append_sequence(std::string& out, const Value& v) {
  const bool tuple = v.is_tuple();
  out += tuple ? '(' : '[';
  const List& items = v.as_list();
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    append_repr(out, items[i]);
  }
  if (tuple && items.size() == 1) out += ',';
  out += tuple ? ')' : ']';
}

// repr() recursion can go through namespaces, which may even contain themselves.
thread_local int g_repr_depth = 0;

void append_repr(std::string& out, const Value& v) {
  struct Depth {
    Depth() {
      if (++g_repr_depth > 2 * kMaxValueDepth) {
        --g_repr_depth;
        fail("maximum nesting depth exceeded while printing a value");
      }
    }
    ~Depth() { --g_repr_depth; }
  } depth;
  switch (v.kind()) {
    case Value::Kind::kString:
      out += string_repr(v.as_string());
      return;
    case Value::Kind::kList:
    case Value::Kind::kTuple:
      append_sequence(out, v);
      return;
    case Value::Kind::kDict: {
      out += '{';
      bool first = true;
      for (const auto& kv : v.as_dict().items) {
        if (!first) out += ", ";
        first = false;
        append_repr(out, kv.first);
        out += ": ";
        append_repr(out, kv.second);
      }
      out += '}';
      return;
    }
    case Value::Kind::kUndefined:
      out += "Undefined";
      return;
    case Value::Kind::kIterator:
      out += "<" + v.type_name() + " object>";
      return;
    default:
      out += to_str(v);
  }
}
}  // namespace

std::string to_str(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined: return "";
    case Value::Kind::kNone: return "None";
    case Value::Kind::kBool: return v.as_bool() ? "True" : "False";
    case Value::Kind::kInt: return std::to_string(v.as_int());
    case Value::Kind::kFloat: return float_repr(v.as_float());
    case Value::Kind::kString: return v.as_string();
    case Value::Kind::kObject: return v.as_object().repr();
    case Value::Kind::kIterator: return "<" + v.type_name() + " object>";
    default: {
      std::string out;
      append_repr(out, v);
      return out;
    }
  }
}

std::string to_repr(const Value& v) {
  std::string out;
  append_repr(out, v);
  return out;
}

Value Object::get_attr(const std::string& name) const {
  return Value::undefined("'" + type_name() + " object' has no attribute '" + name + "'");
}

Value Object::call(Interpreter&, CallArgs&) { fail("TypeError: '" + type_name() + "' object is not callable"); }

std::string Namespace::repr() const {
  auto d = std::make_shared<Dict>(attrs_);
  return "<Namespace " + to_repr(Value::dict(d)) + ">";
}

Value Namespace::get_attr(const std::string& name) const {
  if (const Value* v = attrs_.find(name)) return *v;
  return Value::undefined("'Namespace object' has no attribute '" + name + "'");
}

std::vector<Value> bind_args(const CallArgs& args, const std::string& fn_name, const std::vector<std::string>& params,
                             const std::vector<Value>& defaults) {
  if (args.positional.size() > params.size()) {
    fail("TypeError: " + fn_name + "() takes at most " + std::to_string(params.size()) + " arguments (" +
         std::to_string(args.positional.size()) + " given)");
  }
  std::vector<Value> out(params.size());
  std::vector<bool> given(params.size(), false);
  for (size_t i = 0; i < args.positional.size(); ++i) {
    out[i] = args.positional[i];
    given[i] = true;
  }
  for (const auto& [name, value] : args.keyword) {
    size_t k = 0;
    while (k < params.size() && params[k] != name) ++k;
    if (k == params.size()) fail("TypeError: " + fn_name + "() got an unexpected keyword argument '" + name + "'");
    if (given[k]) fail("TypeError: " + fn_name + "() got multiple values for argument '" + name + "'");
    out[k] = value;
    given[k] = true;
  }
  for (size_t k = 0; k < params.size(); ++k) {
    if (given[k]) continue;
    const Value& d = defaults[k];
    if (d.is_required_marker()) {
      fail("TypeError: " + fn_name + "() missing required argument '" + params[k] + "'");
    }
    out[k] = d;
  }
  return out;
}

}  // namespace lmd::jinja
