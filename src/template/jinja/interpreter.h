// Tree-walking renderer. One Interpreter renders one template once (it holds the output
// buffers, scopes and the counters behind JinjaOptions' limits); it is cheap to create.
// Internal to src/template/jinja: built-ins (filters, tests, methods, globals) call back into
// it for attribute access, calls and limit accounting.
#pragma once

#include <memory>
#include <string>

#include "template/jinja/ast.h"
#include "template/jinja/jinja.h"
#include "template/jinja/object.h"
#include "template/jinja/runtime_objects.h"

namespace lmd::jinja {

class Interpreter {
 public:
  Interpreter(const JinjaOptions& options, const std::string& template_name);

  // `context` is a dict of the template's variables.
  std::string render(const Body& body, const Value& context);

  const JinjaOptions& options() const { return options_; }

  // ---- Python / jinja2-sandbox semantics used by the built-ins
  Value get_attr(const Value& obj, const std::string& name);  // `obj.name`
  Value get_item(const Value& obj, const Value& key);         // `obj[key]`
  Value call(const Value& callee, CallArgs& args);
  Value apply_filter(const std::string& name, const Value& value, CallArgs& args);
  bool apply_test(const std::string& name, const Value& value, CallArgs& args);
  // The items a for-loop (or list()) sees: list / tuple items, dict keys, string
  // characters, nothing for undefined; fails for other kinds.
  List iterate(const Value& v);

  // ---- limits
  void charge(size_t units);               // work budget (bytes copied, elements visited)
  Value make_string(std::string s);        // fails past max_output_bytes, charges work
  Value make_list(List items, bool tuple = false);
  void count_loop_iteration();

  // ---- macros
  Value call_macro(const Macro& macro, CallArgs& args);

  // Namespaces and macro-defining scopes can form reference cycles (a namespace holding
  // itself, a scope holding a macro that holds the scope); render() clears them at the end.
  void track_namespace(std::shared_ptr<Namespace> ns) { namespaces_.push_back(std::move(ns)); }

 private:
  // Nested eval / exec calls on the C++ stack, across macro calls: keeps deep recursion well
  // inside a thread's stack whatever the macro and nesting limits are set to.
  static constexpr int kMaxEvalDepth = 3000;
  enum class Flow { kNormal, kBreak, kContinue };
  Flow exec_body(const Body& body);
  Flow exec(const Stmt& s);
  Flow exec_for(const Stmt& s);
  void exec_set_block(const Stmt& s);
  void assign(const Target& t, const Value& v, Scope& scope);
  std::string capture(const Body& body, const std::shared_ptr<Scope>& scope);
  void write(const std::string& text);

  Value eval(const Expr& e);
  Value eval_inner(const Expr& e);
  Value eval_call(const Expr& e);
  Value eval_filter(const Expr& e);
  Value eval_compare(const Expr& e);
  Value eval_slice(const Expr& e);
  void eval_args(const Expr& e, size_t first, CallArgs& args);
  Value lookup(const std::string& name);

  [[noreturn]] void fail_at(int line, int column, const std::string& message);

  const JinjaOptions& options_;
  const std::string& name_;
  std::shared_ptr<Scope> scope_;
  std::string* out_ = nullptr;
  Value block_input_;       // text of the enclosing filter block / `set x | f` block
  std::vector<std::shared_ptr<Namespace>> namespaces_;
  std::vector<std::shared_ptr<Scope>> macro_scopes_;
  int64_t loop_iterations_ = 0;
  int64_t work_ = 0;
  int call_depth_ = 0;
  int eval_depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace lmd::jinja
