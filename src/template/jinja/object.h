// Objects a template can hold besides plain data: namespaces, the loop variable, macros,
// built-in functions and bound methods. Calls receive the interpreter (for limits, the
// output stack and macro bodies) and the evaluated arguments.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "template/jinja/value.h"

namespace lmd::jinja {

class Interpreter;

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

class Object {
 public:
  virtual ~Object() = default;
  // Python type name, used in messages ("'Namespace' object has no attribute ...").
  virtual std::string type_name() const = 0;
  // str() / repr() of the object.
  virtual std::string repr() const { return "<" + type_name() + " object>"; }
  // `obj.name`: an undefined Value when absent.
  virtual Value get_attr(const std::string& name) const;
  virtual bool callable() const { return false; }
  virtual Value call(Interpreter& interp, CallArgs& args);
};

// jinja2's namespace(): the one object whose attributes templates may assign
// (`{% set ns.x = ... %}`), which is how a value escapes a for-loop's scope.
class Namespace : public Object {
 public:
  std::string type_name() const override { return "Namespace"; }
  std::string repr() const override;
  Value get_attr(const std::string& name) const override;
  void set_attr(const std::string& name, Value v) { attrs_.set(Value::string(name), std::move(v)); }
  void clear() { attrs_.items.clear(); }

 private:
  Dict attrs_;
};

// A callable implemented in C++ (range, namespace, raise_exception, ...; methods bound to
// their receiver, such as 'abc'.upper or loop.cycle).
class BuiltinFunction : public Object {
 public:
  // `fn` receives this object, so one function can serve several methods (by name()).
  using Fn = Value (*)(Interpreter& interp, const BuiltinFunction& fn, CallArgs& args);
  BuiltinFunction(std::string name, Fn fn, Value self = Value()) : name_(std::move(name)), fn_(fn), self_(std::move(self)) {}
  std::string type_name() const override { return "builtin_function_or_method"; }
  std::string repr() const override { return "<built-in function " + name_ + ">"; }
  bool callable() const override { return true; }
  Value call(Interpreter& interp, CallArgs& args) override { return fn_(interp, *this, args); }
  const std::string& name() const { return name_; }
  const Value& self() const { return self_; }  // the receiver of a bound method

 private:
  std::string name_;
  Fn fn_;
  Value self_;
};

// Argument binding for built-ins with Python signatures: `bind_args(args, "indent",
// {"width", "first", "blank"}, {integer(4), boolean(false), boolean(false)})` returns one
// Value per parameter. A default of Value() (plain undefined) marks a required parameter.
// Fails like Python on unknown or duplicate keywords, too many positionals, a missing one.
std::vector<Value> bind_args(const CallArgs& args, const std::string& fn_name, const std::vector<std::string>& params,
                             const std::vector<Value>& defaults);

}  // namespace lmd::jinja
