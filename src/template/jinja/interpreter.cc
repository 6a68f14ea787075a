// Statements, scopes, output and limits. Expressions are in evaluate.cc.
#include "template/jinja/interpreter.h"

#include "template/jinja/builtins.h"
#include "template/jinja/lexer.h"

namespace lmd::jinja {

namespace {

// Restores the interpreter's current scope (and output) on every exit path.
template <typename T>
class Restore {
 public:
  Restore(T& slot, T value) : slot_(slot), saved_(std::move(slot)) { slot_ = std::move(value); }
  ~Restore() { slot_ = std::move(saved_); }

 private:
  T& slot_;
  T saved_;
};

std::shared_ptr<Scope> child_of(const std::shared_ptr<Scope>& parent) {
  auto s = std::make_shared<Scope>();
  s->parent = parent;
  return s;
}

}  // namespace

Interpreter::Interpreter(const JinjaOptions& options, const std::string& template_name)
    : options_(options), name_(template_name) {}

void Interpreter::fail_at(int line, int column, const std::string& message) {
  throw_template_error(name_, line, column, message);
}

std::string Interpreter::render(const Body& body, const Value& context) {
  auto globals = std::make_shared<Scope>();
  add_globals(*globals);
  auto root = child_of(globals);
  for (const auto& [k, v] : context.as_dict().items) root->set(to_str(k), v);
  scope_ = root;
  std::string out;
  out_ = &out;
  struct BreakCycles {
    Interpreter& in;
    ~BreakCycles() {
      for (auto& ns : in.namespaces_) ns->clear();
      for (auto& s : in.macro_scopes_) s->vars.clear();
      in.scope_.reset();
      in.out_ = nullptr;
    }
  } break_cycles{*this};
  exec_body(body);
  return out;
}

// ---- limits

void Interpreter::charge(size_t units) {
  work_ += static_cast<int64_t>(units);
  if (work_ > options_.max_work) fail("work limit exceeded (max_work = " + std::to_string(options_.max_work) + ")");
}

Value Interpreter::make_string(std::string s) {
  if (s.size() > options_.max_output_bytes) {
    fail("string of " + std::to_string(s.size()) + " bytes exceeds max_output_bytes (" +
         std::to_string(options_.max_output_bytes) + ")");
  }
  charge(s.size());
  return Value::string(std::move(s));
}

Value Interpreter::make_list(List items, bool tuple) {
  if (items.size() > options_.max_output_bytes) {
    fail("list of " + std::to_string(items.size()) + " items exceeds max_output_bytes (" +
         std::to_string(options_.max_output_bytes) + ")");
  }
  charge(items.size());
  return tuple ? Value::tuple(std::move(items)) : Value::list(std::move(items));
}

void Interpreter::count_loop_iteration() {
  if (++loop_iterations_ > options_.max_loop_iterations) {
    fail("loop iterations exceed max_loop_iterations (" + std::to_string(options_.max_loop_iterations) + ")");
  }
}

void Interpreter::write(const std::string& text) {
  charge(text.size());
  out_->append(text);
  if (out_->size() > options_.max_output_bytes) {
    fail("output exceeds max_output_bytes (" + std::to_string(options_.max_output_bytes) + ")");
  }
}

// ---- statements

Interpreter::Flow Interpreter::exec_body(const Body& body) {
  for (const auto& s : body) {
    const Flow f = exec(*s);
    if (f != Flow::kNormal) return f;
  }
  return Flow::kNormal;
}

std::string Interpreter::capture(const Body& body, const std::shared_ptr<Scope>& scope) {
  std::string buf;
  Restore<std::string*> out_guard(out_, &buf);
  Restore<std::shared_ptr<Scope>> scope_guard(scope_, scope);
  exec_body(body);
  return buf;
}

Interpreter::Flow Interpreter::exec(const Stmt& s) {
  if (++eval_depth_ > kMaxEvalDepth) fail_at(s.line, s.column, "maximum recursion depth exceeded");
  struct DepthDown {
    int& d;
    ~DepthDown() { --d; }
  } down{eval_depth_};
  try {
    switch (s.kind) {
      case Stmt::Kind::kOutput:
        write(s.text);
        return Flow::kNormal;
      case Stmt::Kind::kPrint:
        write(to_str(eval(*s.expr)));
        return Flow::kNormal;
      case Stmt::Kind::kIf:
        for (const auto& [test, body] : s.branches) {
          if (eval(*test).truthy()) return exec_body(body);
        }
        return exec_body(s.else_body);
      case Stmt::Kind::kFor:
        return exec_for(s);
      case Stmt::Kind::kSet:
        assign(s.target, eval(*s.expr), *scope_);
        return Flow::kNormal;
      case Stmt::Kind::kSetBlock:
        exec_set_block(s);
        return Flow::kNormal;
      case Stmt::Kind::kMacro:
        scope_->set(s.macro->name, Value::object(std::make_shared<Macro>(s.macro, scope_)));
        macro_scopes_.push_back(scope_);
        return Flow::kNormal;
      case Stmt::Kind::kCallBlock: {
        const Value caller = Value::object(std::make_shared<Macro>(s.macro, scope_));
        const Expr& call = *s.expr;
        const Value callee = eval(*call.children[0]);
        CallArgs args;
        eval_args(call, 1, args);
        args.keyword.emplace_back("caller", caller);
        write(to_str(this->call(callee, args)));
        return Flow::kNormal;
      }
      case Stmt::Kind::kFilterBlock: {
        const std::string text = capture(s.body, child_of(scope_));
        Restore<Value> input(block_input_, Value::string(text));
        write(to_str(eval(*s.expr)));
        return Flow::kNormal;
      }
      case Stmt::Kind::kWith: {
        auto scope = child_of(scope_);
        std::vector<Value> values;
        for (const auto& v : s.with_values) values.push_back(eval(*v));
        for (size_t i = 0; i < values.size(); ++i) assign(s.with_targets[i], values[i], *scope);
        Restore<std::shared_ptr<Scope>> guard(scope_, scope);
        return exec_body(s.body);
      }
      case Stmt::Kind::kScope: {
        Restore<std::shared_ptr<Scope>> guard(scope_, child_of(scope_));
        return exec_body(s.body);
      }
      case Stmt::Kind::kBreak:
        return Flow::kBreak;
      case Stmt::Kind::kContinue:
        return Flow::kContinue;
    }
  } catch (const Failure& f) {
    fail_at(s.line, s.column, f.message);
  }
  return Flow::kNormal;
}

void Interpreter::exec_set_block(const Stmt& s) {
  const std::string text = capture(s.body, child_of(scope_));
  Value v = Value::string(text);
  if (s.expr) {
    Restore<Value> input(block_input_, v);
    v = eval(*s.expr);
  }
  assign(s.target, v, *scope_);
}

Interpreter::Flow Interpreter::exec_for(const Stmt& s) {
  List items = iterate(eval(*s.expr));
  if (s.cond) {
    List kept;
    for (auto& item : items) {
      count_loop_iteration();
      auto scope = child_of(scope_);
      assign(s.target, item, *scope);
      Restore<std::shared_ptr<Scope>> guard(scope_, scope);
      if (eval(*s.cond).truthy()) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty()) {
    Restore<std::shared_ptr<Scope>> guard(scope_, child_of(scope_));
    return exec_body(s.else_body);
  }
  auto shared = std::make_shared<const List>(std::move(items));
  auto loop = std::make_shared<LoopContext>(shared, 1);
  const Value loop_value = Value::object(loop);
  for (size_t i = 0; i < shared->size(); ++i) {
    count_loop_iteration();
    loop->set_index(i);
    auto scope = child_of(scope_);
    assign(s.target, (*shared)[i], *scope);
    scope->set("loop", loop_value);
    Restore<std::shared_ptr<Scope>> guard(scope_, scope);
    if (exec_body(s.body) == Flow::kBreak) break;
  }
  return Flow::kNormal;
}

void Interpreter::assign(const Target& t, const Value& v, Scope& scope) {
  switch (t.kind) {
    case Target::Kind::kName:
      scope.set(t.name, v);
      return;
    case Target::Kind::kTuple: {
      const List items = iterate(v);
      if (items.size() != t.items.size()) {
        if (items.size() > t.items.size()) {
          fail("ValueError: too many values to unpack (expected " + std::to_string(t.items.size()) + ")");
        }
        fail("ValueError: not enough values to unpack (expected " + std::to_string(t.items.size()) + ", got " +
             std::to_string(items.size()) + ")");
      }
      for (size_t i = 0; i < items.size(); ++i) assign(t.items[i], items[i], scope);
      return;
    }
    case Target::Kind::kNamespaceAttr: {
      const Value ns = lookup(t.name);
      auto* target = ns.is_object() ? dynamic_cast<Namespace*>(&ns.as_object()) : nullptr;
      if (!target) fail("cannot assign attribute on non-namespace object");
      target->set_attr(t.attr, v);
      return;
    }
  }
}

Value Interpreter::lookup(const std::string& name) {
  if (const Value* v = scope_->find(name)) return *v;
  return Value::undefined("'" + name + "' is undefined");
}

// ---- macros

Value Interpreter::call_macro(const Macro& macro, CallArgs& args) {
  const MacroDef& d = macro.def();
  if (call_depth_ + 1 > options_.max_recursion_depth) {
    fail("maximum recursion depth exceeded (max_recursion_depth = " + std::to_string(options_.max_recursion_depth) +
         ") calling macro '" + d.name + "'");
  }
  ++call_depth_;
  struct Down {
    int& d;
    ~Down() { --d; }
  } down{call_depth_};

  auto scope = child_of(macro.closure());
  std::vector<bool> given(d.params.size(), false);
  const size_t n_pos = std::min(d.params.size(), args.positional.size());
  for (size_t i = 0; i < n_pos; ++i) {
    scope->set(d.params[i], args.positional[i]);
    given[i] = true;
  }
  if (args.positional.size() > d.params.size() && !d.uses_varargs) {
    fail("TypeError: macro '" + d.name + "' takes not more than " + std::to_string(d.params.size()) + " argument(s)");
  }
  List varargs(args.positional.begin() + n_pos, args.positional.end());
  auto kwargs = std::make_shared<Dict>();
  Value caller = macro.caller();
  for (const auto& [key, value] : args.keyword) {
    size_t k = 0;
    while (k < d.params.size() && d.params[k] != key) ++k;
    if (k < d.params.size()) {
      if (given[k]) fail("TypeError: macro '" + d.name + "' got multiple values for argument '" + key + "'");
      scope->set(key, value);
      given[k] = true;
    } else if (key == "caller" && d.uses_caller) {
      caller = value;
    } else if (d.uses_kwargs) {
      kwargs->set(Value::string(key), value);
    } else {
      fail("TypeError: macro '" + d.name + "' takes no keyword argument '" + key + "'");
    }
  }
  Restore<std::shared_ptr<Scope>> guard(scope_, scope);
  for (size_t k = 0; k < d.params.size(); ++k) {
    if (given[k]) continue;
    scope->set(d.params[k], d.defaults[k] ? eval(*d.defaults[k])
                                          : Value::undefined("parameter '" + d.params[k] + "' was not provided"));
  }
  if (d.uses_varargs) scope->set("varargs", Value::tuple(std::move(varargs)));
  if (d.uses_kwargs) scope->set("kwargs", Value::dict(kwargs));
  if (d.uses_caller) scope->set("caller", caller.is_required_marker() ? Value::undefined("No caller defined") : caller);
  return Value::string(capture(d.body, scope));
}

}  // namespace lmd::jinja
