// Run-time objects of the interpreter: variable scopes, macros (and call-block callers),
// and the `loop` variable of for-loops.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "template/jinja/ast.h"
#include "template/jinja/object.h"

namespace lmd::jinja {

// Variables of one scope. Lookups walk to the parent; assignments stay in the scope, which
// gives jinja2's rule that a `set` inside a for-loop or macro does not leak out. Macros keep
// their defining scope alive (Python closure semantics: they see its latest values).
struct Scope {
  std::shared_ptr<Scope> parent;
  std::vector<std::pair<std::string, Value>> vars;

  const Value* find(const std::string& name) const;
  void set(const std::string& name, Value v);
};

// A macro (`{% macro %}`) or the `caller` of a call block.
class Macro : public Object {
 public:
  Macro(std::shared_ptr<const MacroDef> def, std::shared_ptr<Scope> closure, Value caller = Value())
      : def_(std::move(def)), closure_(std::move(closure)), caller_(std::move(caller)) {}
  std::string type_name() const override { return "Macro"; }
  std::string repr() const override { return "<Macro '" + def_->name + "'>"; }
  Value get_attr(const std::string& name) const override;
  bool callable() const override { return true; }
  Value call(Interpreter& interp, CallArgs& args) override;

  const MacroDef& def() const { return *def_; }
  const std::shared_ptr<Scope>& closure() const { return closure_; }
  const Value& caller() const { return caller_; }  // undefined unless made by a call block

 private:
  std::shared_ptr<const MacroDef> def_;
  std::shared_ptr<Scope> closure_;
  Value caller_;
};

// The `loop` variable: index, index0, revindex, revindex0, first, last, length, previtem,
// nextitem, depth, depth0 and cycle(...).
class LoopContext : public Object, public std::enable_shared_from_this<LoopContext> {
 public:
  LoopContext(std::shared_ptr<const List> items, int depth) : items_(std::move(items)), depth_(depth) {}
  std::string type_name() const override { return "LoopContext"; }
  std::string repr() const override;
  Value get_attr(const std::string& name) const override;
  void set_index(size_t i) { index_ = i; }
  size_t index() const { return index_; }

 private:
  std::shared_ptr<const List> items_;
  size_t index_ = 0;
  int depth_ = 1;
};

}  // namespace lmd::jinja
