// Expression evaluation.
#include "template/jinja/builtins.h"
#include "template/jinja/interpreter.h"

namespace lmd::jinja {

Value Interpreter::eval(const Expr& e) {
  if (++eval_depth_ > kMaxEvalDepth) fail_at(e.line, e.column, "maximum recursion depth exceeded");
  struct DepthDown {
    int& d;
    ~DepthDown() { --d; }
  } down{eval_depth_};
  try {
    return eval_inner(e);
  } catch (const Failure& f) {
    fail_at(e.line, e.column, f.message);
  }
}

Value Interpreter::eval_inner(const Expr& e) {
  using K = Expr::Kind;
  switch (e.kind) {
    case K::kConst:
      return e.constant;
    case K::kName:
      return lookup(e.name);
    case K::kList:
    case K::kTuple: {
      List items;
      items.reserve(e.children.size());
      for (const auto& c : e.children) items.push_back(eval(*c));
      return make_list(std::move(items), e.kind == K::kTuple);
    }
    case K::kDict: {
      auto d = std::make_shared<Dict>();
      for (size_t i = 0; i + 1 < e.children.size(); i += 2) {
        Value key = eval(*e.children[i]);
        if (key.is_list() || key.is_dict()) fail("TypeError: unhashable type: '" + key.type_name() + "'");
        d->set(key, eval(*e.children[i + 1]));
      }
      charge(d->items.size());
      return Value::dict(std::move(d));
    }
    case K::kGetAttr:
      return get_attr(eval(*e.children[0]), e.name);
    case K::kGetItem: {
      const Value obj = eval(*e.children[0]);
      return get_item(obj, eval(*e.children[1]));
    }
    case K::kSlice:
      return eval_slice(e);
    case K::kCall:
      return eval_call(e);
    case K::kFilter:
      return eval_filter(e);
    case K::kTest: {
      const Value v = eval(*e.children[0]);
      CallArgs args;
      eval_args(e, 1, args);
      return Value::boolean(apply_test(e.name, v, args));
    }
    case K::kNeg:
      return negate(eval(*e.children[0]));
    case K::kPos: {
      const Value v = eval(*e.children[0]);
      if (v.is_undefined()) v.fail_undefined();
      if (!v.is_number()) fail("TypeError: bad operand type for unary +: '" + v.type_name() + "'");
      return v.is_bool() ? Value::integer(v.as_int()) : v;
    }
    case K::kNot:
      return Value::boolean(!eval(*e.children[0]).truthy());
    case K::kBinary: {
      const Value a = eval(*e.children[0]);
      return binary_op(*this, e.name, a, eval(*e.children[1]));
    }
    case K::kConcat: {
      std::string s;
      for (const auto& c : e.children) {
        s += to_str(eval(*c));
        if (s.size() > options_.max_output_bytes) break;  // make_string reports it
      }
      return make_string(std::move(s));
    }
    case K::kAnd: {
      Value left = eval(*e.children[0]);
      if (!left.truthy()) return left;
      return eval(*e.children[1]);
    }
    case K::kOr: {
      Value left = eval(*e.children[0]);
      if (left.truthy()) return left;
      return eval(*e.children[1]);
    }
    case K::kCompare:
      return eval_compare(e);
    case K::kCondExpr:
      if (eval(*e.children[0]).truthy()) return eval(*e.children[1]);
      if (e.children[2]) return eval(*e.children[2]);
      return Value::undefined("the inline if-expression on line " + std::to_string(e.line) +
                              " evaluated to false and no else section was defined.");
  }
  fail("internal error: unknown expression kind");
}

Value Interpreter::eval_compare(const Expr& e) {
  Value left = eval(*e.children[0]);
  for (size_t i = 0; i < e.compare_ops.size(); ++i) {
    Value right = eval(*e.children[i + 1]);
    if (!compare(*this, e.compare_ops[i], left, right)) return Value::boolean(false);
    left = std::move(right);
  }
  return Value::boolean(true);
}

Value Interpreter::eval_slice(const Expr& e) {
  const Value obj = eval(*e.children[0]);
  auto part = [&](size_t i) { return e.children[i] ? eval(*e.children[i]) : Value::none(); };
  const Value start = part(1), stop = part(2), step = part(3);
  return slice_value(*this, obj, start, stop, step);
}

void Interpreter::eval_args(const Expr& e, size_t first, CallArgs& args) {
  for (size_t i = first; i < e.children.size(); ++i) args.positional.push_back(eval(*e.children[i]));
  for (const auto& [key, value] : e.kwargs) args.keyword.emplace_back(key, eval(*value));
  if (e.star_args) {
    for (auto& v : iterate(eval(*e.star_args))) args.positional.push_back(std::move(v));
  }
  if (e.star_kwargs) {
    const Value d = eval(*e.star_kwargs);
    if (!d.is_dict()) fail("TypeError: argument after ** must be a mapping, not " + d.type_name());
    for (const auto& [k, v] : d.as_dict().items) {
      if (!k.is_string()) fail("TypeError: keywords must be strings");
      args.keyword.emplace_back(k.as_string(), v);
    }
  }
}

Value Interpreter::eval_call(const Expr& e) {
  const Value callee = eval(*e.children[0]);
  CallArgs args;
  eval_args(e, 1, args);
  return call(callee, args);
}

Value Interpreter::eval_filter(const Expr& e) {
  const Value v = e.children[0] ? eval(*e.children[0]) : block_input_;
  CallArgs args;
  eval_args(e, 1, args);
  return apply_filter(e.name, v, args);
}

Value Interpreter::call(const Value& callee, CallArgs& args) {
  if (callee.is_undefined()) callee.fail_undefined();
  if (callee.is_object() && callee.as_object().callable()) return callee.as_object().call(*this, args);
  fail("TypeError: '" + callee.type_name() + "' object is not callable");
}

Value Interpreter::apply_filter(const std::string& name, const Value& value, CallArgs& args) {
  FilterFn f = find_filter(name);
  if (!f) fail("No filter named '" + name + "'.");
  return f(*this, value, args);
}

bool Interpreter::apply_test(const std::string& name, const Value& value, CallArgs& args) {
  TestFn t = find_test(name);
  if (!t) fail("No test named '" + name + "'.");
  return t(*this, value, args);
}

}  // namespace lmd::jinja
