#include "template/jinja/runtime_objects.h"

#include "template/jinja/interpreter.h"

namespace lmd::jinja {

const Value* Scope::find(const std::string& name) const {
  for (const Scope* s = this; s; s = s->parent.get()) {
    for (const auto& kv : s->vars) {
      if (kv.first == name) return &kv.second;
    }
  }
  return nullptr;
}

void Scope::set(const std::string& name, Value v) {
  for (auto& kv : vars) {
    if (kv.first == name) {
      kv.second = std::move(v);
      return;
    }
  }
  vars.emplace_back(name, std::move(v));
}

Value Macro::get_attr(const std::string& name) const {
  if (name == "name") return Value::string(def_->name);
  if (name == "arguments") {
    List args;
    for (const auto& p : def_->params) args.push_back(Value::string(p));
    return Value::tuple(std::move(args));
  }
  if (name == "caller") return Value::boolean(def_->uses_caller);
  if (name == "catch_kwargs") return Value::boolean(def_->uses_kwargs);
  if (name == "catch_varargs") return Value::boolean(def_->uses_varargs);
  return Object::get_attr(name);
}

Value Macro::call(Interpreter& interp, CallArgs& args) { return interp.call_macro(*this, args); }

std::string LoopContext::repr() const {
  return "<LoopContext " + std::to_string(index_ + 1) + "/" + std::to_string(items_->size()) + ">";
}

namespace {

// loop.cycle(a, b, ...): the argument at index0 modulo their count.
Value loop_cycle(Interpreter&, const BuiltinFunction& fn, CallArgs& args) {
  if (args.positional.empty()) fail("TypeError: no items for cycling given");
  const auto& loop = dynamic_cast<const LoopContext&>(fn.self().as_object());
  return args.positional[loop.index() % args.positional.size()];
}

}  // namespace

Value LoopContext::get_attr(const std::string& name) const {
  const int64_t n = static_cast<int64_t>(items_->size());
  const int64_t i = static_cast<int64_t>(index_);
  if (name == "index") return Value::integer(i + 1);
  if (name == "index0") return Value::integer(i);
  if (name == "revindex") return Value::integer(n - i);
  if (name == "revindex0") return Value::integer(n - i - 1);
  if (name == "first") return Value::boolean(i == 0);
  if (name == "last") return Value::boolean(i == n - 1);
  if (name == "length") return Value::integer(n);
  if (name == "depth") return Value::integer(depth_);
  if (name == "depth0") return Value::integer(depth_ - 1);
  if (name == "previtem") {
    if (i == 0) return Value::undefined("there is no previous item");
    return (*items_)[i - 1];
  }
  if (name == "nextitem") {
    if (i + 1 >= n) return Value::undefined("there is no next item");
    return (*items_)[i + 1];
  }
  if (name == "cycle") {
    // Bound to the live loop (shared ownership), as Python binds the method to the object.
    auto self = std::const_pointer_cast<LoopContext>(shared_from_this());
    return Value::object(std::make_shared<BuiltinFunction>("cycle", loop_cycle, Value::object(self)));
  }
  return Object::get_attr(name);
}

}  // namespace lmd::jinja
