// The value model of the Jinja interpreter: Python's data types as jinja2 sees them.
//
// Kinds mirror the Python types chat templates meet: jinja2's default Undefined, None, bool,
// int (int64; overflow is an error, Python would grow), float, str (UTF-8 bytes; length and
// indexing count code points as Python does), list, tuple, dict (insertion-ordered like a
// Python dict), and Object (namespace, loop, macro, built-in function, bound method).
//
// Containers and objects are shared by reference, like Python objects: a namespace mutated
// through one name is seen through every other. Lists and dicts are never mutated after
// construction (ImmutableSandboxedEnvironment refuses append / update / ...), so sharing them
// is safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace lmd::jinja {

class Value;
class Object;
struct Dict;
using List = std::vector<Value>;

// An error raised while evaluating; the interpreter attaches the template name, line and
// column of the node being evaluated and turns it into lmd::Error.
struct Failure {
  std::string message;
};
[[noreturn]] void fail(const std::string& message);

// Containers nest at most this deep (Python would hit its recursion limit near here too);
// it keeps every recursive walk over values (repr, ==, tojson, destruction) stack-safe.
constexpr int kMaxValueDepth = 512;

class Value {
 public:
  enum class Kind : uint8_t { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kTuple, kDict, kObject, kIterator };

  // A bare Value() is undefined without hint; bind_args() reads it as "required".
  Value() : kind_(Kind::kUndefined) {}
  static Value undefined(std::string hint = "", bool unsafe = false);
  static Value none();
  static Value boolean(bool b);
  static Value integer(int64_t i);
  static Value floating(double d);
  static Value string(std::string s);
  static Value list(List items);
  static Value tuple(List items);
  static Value dict(std::shared_ptr<Dict> d);
  // A one-pass iterator (what map / select / unique / reverse / items return in jinja2): it
  // iterates like a list but is always true, has no len() and no indexing.
  // `type_name` is the Python type ("generator", "list_reverseiterator").
  static Value iterator(List items, std::string type_name);
  static Value object(std::shared_ptr<Object> o);

  Kind kind() const { return kind_; }
  int depth() const { return depth_; }  // 0 for scalars and objects, 1 + deepest item for containers
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_int() const { return kind_ == Kind::kInt; }        // not bool
  bool is_float() const { return kind_ == Kind::kFloat; }
  bool is_number() const { return kind_ == Kind::kInt || kind_ == Kind::kFloat || kind_ == Kind::kBool; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_list() const { return kind_ == Kind::kList; }
  bool is_tuple() const { return kind_ == Kind::kTuple; }
  bool is_sequence() const { return kind_ == Kind::kList || kind_ == Kind::kTuple; }
  bool is_dict() const { return kind_ == Kind::kDict; }
  bool is_object() const { return kind_ == Kind::kObject; }
  bool is_iterator() const { return kind_ == Kind::kIterator; }

  bool as_bool() const { return b_; }
  int64_t as_int() const { return i_; }  // also for bool (0/1)
  double as_float() const { return is_float() ? d_ : static_cast<double>(i_); }
  const std::string& as_string() const { return *s_; }
  const List& as_list() const { return *l_; }  // list, tuple or iterator
  const Dict& as_dict() const { return *m_; }
  const std::shared_ptr<Dict>& dict_ptr() const { return m_; }
  Object& as_object() const { return *o_; }
  const std::shared_ptr<Object>& object_ptr() const { return o_; }

  // For undefined: the explanation used when it is used in a way that fails ("'x' is
  // undefined", "'dict object' has no attribute 'y'"); `unsafe` marks the sandbox's refusal
  // of an attribute (SecurityError in jinja2).
  const std::string& undefined_hint() const;
  bool is_required_marker() const { return kind_ == Kind::kUndefined && !s_; }
  bool undefined_is_unsafe() const { return b_; }
  // Raises the undefined's error (jinja2's _fail_with_undefined_error).
  [[noreturn]] void fail_undefined() const;

  // Python truthiness (bool(x)); undefined is false.
  bool truthy() const;
  // Python type name: "str", "int", "dict", "NoneType", "Undefined", ...
  std::string type_name() const;

 private:
  void set_depth_from(const List& items);

  Kind kind_;
  uint16_t depth_ = 0;
  bool b_ = false;
  int64_t i_ = 0;
  double d_ = 0;
  std::shared_ptr<const std::string> s_;
  std::shared_ptr<const List> l_;
  std::shared_ptr<Dict> m_;
  std::shared_ptr<Object> o_;
};

// A Python dict: insertion-ordered keys of any hashable kind (strings in practice).
struct Dict {
  std::vector<std::pair<Value, Value>> items;
  // nullptr when absent. Python equality of keys (1 == 1.0 == True).
  const Value* find(const Value& key) const;
  const Value* find(const std::string& key) const;
  // Inserts or replaces, keeping the first insertion's position (Python semantics).
  void set(const Value& key, Value value);
};

// Python equality (==): numbers across int/float/bool, sequences and dicts element-wise;
// undefined equals only undefined; objects by identity.
bool equals(const Value& a, const Value& b);
// Python ordering (<); fails with a TypeError-like message for unorderable kinds.
bool less_than(const Value& a, const Value& b);

// str(x) as Python prints it ("None", "True", "1.0", "['a', 1]", "{'k': 'v'}"); undefined
// prints as the empty string.
std::string to_str(const Value& v);
// repr(x) (strings quoted as Python quotes them).
std::string to_repr(const Value& v);

}  // namespace lmd::jinja
