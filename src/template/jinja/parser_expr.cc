// Expression half of the parser (jinja2's parse_tuple ... parse_primary).
#include "template/jinja/parser_impl.h"

namespace lmd::jinja {

bool Parser::is_tuple_end(const std::vector<std::string>& extra_end) const {
  const Token& t = cur();
  if (t.type == TokenType::kVarEnd || t.type == TokenType::kBlockEnd || t.type == TokenType::kEof) return true;
  if (t.type == TokenType::kOperator && t.text == ")") return true;
  if (t.type == TokenType::kName) {
    for (const auto& e : extra_end) {
      if (t.text == e) return true;
    }
  }
  return false;
}

ExprPtr Parser::parse_tuple(bool simplified, bool with_condexpr, const std::vector<std::string>& extra_end,
                            bool explicit_parentheses) {
  const Token& start = cur();
  std::vector<ExprPtr> items;
  bool is_tuple = false;
  while (true) {
    if (!items.empty()) expect_op(",");
    if (is_tuple_end(extra_end)) break;
    items.push_back(simplified ? parse_primary() : parse_expression(with_condexpr));
    if (is_op(",")) {
      is_tuple = true;
    } else {
      break;
    }
  }
  if (!is_tuple) {
    if (!items.empty()) return std::move(items[0]);
    if (!explicit_parentheses) error(cur(), "Expected an expression, got " + describe(cur()));
  }
  auto t = make_expr(Expr::Kind::kTuple, start);
  t->children = std::move(items);
  return t;
}

ExprPtr Parser::parse_expression(bool with_condexpr) { return with_condexpr ? parse_condexpr() : parse_or(); }

ExprPtr Parser::parse_condexpr() {
  DepthGuard guard(*this);
  const Token& start = cur();
  ExprPtr expr1 = parse_or();
  while (is_name("if")) {
    next();
    ExprPtr test = parse_or();
    ExprPtr otherwise;
    if (is_name("else")) {
      next();
      otherwise = parse_condexpr();
    }
    auto c = make_expr(Expr::Kind::kCondExpr, start);
    c->children.push_back(std::move(test));
    c->children.push_back(std::move(expr1));
    c->children.push_back(std::move(otherwise));
    expr1 = std::move(c);
  }
  return expr1;
}

ExprPtr Parser::parse_or() { return parse_logical("or", Expr::Kind::kOr, &Parser::parse_and); }

ExprPtr Parser::parse_and() { return parse_logical("and", Expr::Kind::kAnd, &Parser::parse_not); }

ExprPtr Parser::parse_logical(const char* keyword, Expr::Kind kind, ExprPtr (Parser::*operand)()) {
  ExprPtr left = (this->*operand)();
  while (is_name(keyword)) {
    const Token& at = next();
    auto n = make_expr(kind, at);
    n->children.push_back(std::move(left));
    n->children.push_back((this->*operand)());
    left = std::move(n);
  }
  return left;
}

ExprPtr Parser::parse_not() {
  DepthGuard guard(*this);
  if (is_name("not")) {
    auto n = make_expr(Expr::Kind::kNot, next());
    n->children.push_back(parse_not());
    return n;
  }
  return parse_compare();
}

ExprPtr Parser::parse_compare() {
  const Token& start = cur();
  ExprPtr first = parse_math1();
  std::vector<std::string> ops;
  std::vector<ExprPtr> operands;
  while (true) {
    const Token& t = cur();
    if (t.type == TokenType::kOperator &&
        (t.text == "==" || t.text == "!=" || t.text == "<" || t.text == "<=" || t.text == ">" || t.text == ">=")) {
      ops.push_back(next().text);
    } else if (is_name("in")) {
      next();
      ops.push_back("in");
    } else if (is_name("not") && look().type == TokenType::kName && look().text == "in") {
      next();
      next();
      ops.push_back("notin");
    } else {
      break;
    }
    operands.push_back(parse_math1());
  }
  if (ops.empty()) return first;
  auto c = make_expr(Expr::Kind::kCompare, start);
  c->children.push_back(std::move(first));
  for (auto& o : operands) c->children.push_back(std::move(o));
  c->compare_ops = std::move(ops);
  return c;
}

ExprPtr Parser::parse_math1() {
  ExprPtr left = parse_concat();
  while (is_op("+") || is_op("-")) {
    const Token& at = next();
    auto n = make_expr(Expr::Kind::kBinary, at);
    n->name = at.text;
    n->children.push_back(std::move(left));
    n->children.push_back(parse_concat());
    left = std::move(n);
  }
  return left;
}

ExprPtr Parser::parse_concat() {
  const Token& start = cur();
  ExprPtr first = parse_math2();
  if (!is_op("~")) return first;
  auto n = make_expr(Expr::Kind::kConcat, start);
  n->children.push_back(std::move(first));
  while (is_op("~")) {
    next();
    n->children.push_back(parse_math2());
  }
  return n;
}

ExprPtr Parser::parse_math2() {
  ExprPtr left = parse_pow();
  while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
    const Token& at = next();
    auto n = make_expr(Expr::Kind::kBinary, at);
    n->name = at.text;
    n->children.push_back(std::move(left));
    n->children.push_back(parse_pow());
    left = std::move(n);
  }
  return left;
}

ExprPtr Parser::parse_pow() {
  ExprPtr left = parse_unary(true);
  while (is_op("**")) {
    const Token& at = next();
    auto n = make_expr(Expr::Kind::kBinary, at);
    n->name = "**";
    n->children.push_back(std::move(left));
    n->children.push_back(parse_unary(true));
    left = std::move(n);
  }
  return left;
}

ExprPtr Parser::parse_unary(bool with_filter) {
  DepthGuard guard(*this);
  ExprPtr node;
  if (is_op("-") || is_op("+")) {
    const Token& at = next();
    node = make_expr(at.text == "-" ? Expr::Kind::kNeg : Expr::Kind::kPos, at);
    node->children.push_back(parse_unary(false));
  } else {
    node = parse_primary();
  }
  node = parse_postfix(std::move(node));
  if (with_filter) node = parse_filter_expr(std::move(node));
  return node;
}

ExprPtr Parser::parse_primary() {
  DepthGuard guard(*this);
  const Token& t = cur();
  switch (t.type) {
    case TokenType::kName: {
      next();
      if (t.text == "true" || t.text == "True" || t.text == "false" || t.text == "False") {
        auto c = make_expr(Expr::Kind::kConst, t);
        c->constant = Value::boolean(t.text[0] == 't' || t.text[0] == 'T');
        return c;
      }
      if (t.text == "none" || t.text == "None") {
        auto c = make_expr(Expr::Kind::kConst, t);
        c->constant = Value::none();
        return c;
      }
      auto n = make_expr(Expr::Kind::kName, t);
      n->name = t.text;
      return n;
    }
    case TokenType::kString: {
      std::string s;
      while (cur().type == TokenType::kString) s += next().text;  // adjacent literals concatenate
      auto c = make_expr(Expr::Kind::kConst, t);
      c->constant = Value::string(std::move(s));
      return c;
    }
    case TokenType::kInt:
    case TokenType::kFloat: {
      next();
      auto c = make_expr(Expr::Kind::kConst, t);
      c->constant = t.type == TokenType::kInt ? Value::integer(t.int_value) : Value::floating(t.float_value);
      return c;
    }
    case TokenType::kOperator:
      if (t.text == "(") {
        next();
        ExprPtr e = parse_tuple(false, true, {}, true);
        expect_op(")");
        return e;
      }
      if (t.text == "[") return parse_list();
      if (t.text == "{") return parse_dict();
      break;
    default:
      break;
  }
  error(t, "unexpected " + describe(t));
}

ExprPtr Parser::parse_list() {
  auto l = make_expr(Expr::Kind::kList, next());
  while (!is_op("]")) {
    if (!l->children.empty()) expect_op(",");
    if (is_op("]")) break;
    l->children.push_back(parse_expression(true));
  }
  next();
  return l;
}

ExprPtr Parser::parse_dict() {
  auto d = make_expr(Expr::Kind::kDict, next());
  while (!is_op("}")) {
    if (!d->children.empty()) expect_op(",");
    if (is_op("}")) break;
    d->children.push_back(parse_expression(true));
    expect_op(":");
    d->children.push_back(parse_expression(true));
  }
  next();
  return d;
}

ExprPtr Parser::parse_postfix(ExprPtr node) {
  while (true) {
    if (is_op(".") || is_op("[")) {
      node = parse_subscript(std::move(node));
    } else if (is_op("(")) {
      auto call = make_expr(Expr::Kind::kCall, cur());
      call->line = node->line, call->column = node->column;  // errors point at the callee
      call->children.push_back(std::move(node));
      parse_call_args(*call);
      node = std::move(call);
    } else {
      return node;
    }
  }
}

ExprPtr Parser::parse_filter_expr(ExprPtr node) {
  while (true) {
    if (is_op("|")) {
      node = parse_filter(std::move(node), false);
    } else if (is_name("is")) {
      node = parse_test(std::move(node));
    } else if (is_op("(")) {
      auto call = make_expr(Expr::Kind::kCall, cur());
      call->line = node->line, call->column = node->column;  // errors point at the callee
      call->children.push_back(std::move(node));
      parse_call_args(*call);
      node = std::move(call);
    } else {
      return node;
    }
  }
}

ExprPtr Parser::parse_subscript(ExprPtr node) {
  const Token& at = next();
  if (at.text == ".") {
    const Token& attr = cur();
    if (attr.type == TokenType::kName) {
      next();
      auto g = make_expr(Expr::Kind::kGetAttr, at);
      g->children.push_back(std::move(node));
      g->name = attr.text;
      return g;
    }
    if (attr.type == TokenType::kInt) {
      next();
      auto g = make_expr(Expr::Kind::kGetItem, at);
      g->children.push_back(std::move(node));
      auto key = make_expr(Expr::Kind::kConst, attr);
      key->constant = Value::integer(attr.int_value);
      g->children.push_back(std::move(key));
      return g;
    }
    error(attr, "expected name or number");
  }
  // `[`: one key, a slice, or several keys forming a tuple.
  std::vector<ExprPtr> keys;
  while (!is_op("]")) {
    if (!keys.empty()) {
      expect_op(",");
      if (is_op("]")) break;
    }
    keys.push_back(parse_subscribed(nullptr, cur()));
  }
  expect_op("]");
  if (keys.empty()) error(at, "expected a subscript");
  if (keys.size() == 1 && keys[0]->kind == Expr::Kind::kSlice) {
    keys[0]->children[0] = std::move(node);
    return std::move(keys[0]);
  }
  auto g = make_expr(Expr::Kind::kGetItem, at);
  g->children.push_back(std::move(node));
  if (keys.size() == 1) {
    g->children.push_back(std::move(keys[0]));
  } else {
    auto t = make_expr(Expr::Kind::kTuple, at);
    for (auto& k : keys) {
      if (k->kind == Expr::Kind::kSlice) error(at, "slices inside a tuple subscript are not supported");
      t->children.push_back(std::move(k));
    }
    g->children.push_back(std::move(t));
  }
  return g;
}

// One subscript element: an expression, or a slice `[start]:[stop][:[step]]` returned as a
// kSlice whose object (children[0]) the caller fills in.
ExprPtr Parser::parse_subscribed(ExprPtr object, const Token& at) {
  ExprPtr start;
  if (!is_op(":")) {
    start = parse_expression(true);
    if (!is_op(":")) return start;
  }
  next();  // ':'
  auto s = make_expr(Expr::Kind::kSlice, at);
  s->children.push_back(std::move(object));
  s->children.push_back(std::move(start));
  if (!is_op(":") && !is_op("]") && !is_op(",")) {
    s->children.push_back(parse_expression(true));
  } else {
    s->children.push_back(nullptr);
  }
  if (is_op(":")) {
    next();
    if (!is_op("]") && !is_op(",")) {
      s->children.push_back(parse_expression(true));
    } else {
      s->children.push_back(nullptr);
    }
  } else {
    s->children.push_back(nullptr);
  }
  return s;
}

void Parser::parse_call_args(Expr& call) {
  expect_op("(");
  bool first = true;
  while (!is_op(")")) {
    if (!first) {
      expect_op(",");
      if (is_op(")")) break;
    }
    first = false;
    if (is_op("*")) {
      next();
      call.star_args = parse_expression(true);
    } else if (is_op("**")) {
      next();
      call.star_kwargs = parse_expression(true);
    } else if (cur().type == TokenType::kName && look().type == TokenType::kOperator && look().text == "=") {
      const std::string key = next().text;
      next();
      call.kwargs.emplace_back(key, parse_expression(true));
    } else {
      if (!call.kwargs.empty() || call.star_args || call.star_kwargs) {
        error(cur(), "positional argument follows keyword argument");
      }
      call.children.push_back(parse_expression(true));
    }
  }
  next();
}

ExprPtr Parser::parse_filter(ExprPtr node, bool start_inline) {
  while (is_op("|") || start_inline) {
    if (!start_inline) next();
    start_inline = false;
    const Token& at = cur();
    std::string name = expect_name();
    while (is_op(".")) {
      next();
      name += "." + expect_name();
    }
    auto f = make_expr(Expr::Kind::kFilter, at);
    f->name = name;
    f->children.push_back(std::move(node));
    if (is_op("(")) parse_call_args(*f);
    node = std::move(f);
  }
  return node;
}

ExprPtr Parser::parse_test(ExprPtr node) {
  const Token& at = next();  // 'is'
  bool negated = false;
  if (is_name("not")) {
    next();
    negated = true;
  }
  std::string name = expect_name();
  while (is_op(".")) {
    next();
    name += "." + expect_name();
  }
  auto t = make_expr(Expr::Kind::kTest, at);
  t->name = name;
  t->children.push_back(std::move(node));
  const Token& c = cur();
  const bool arg_start =
      c.type == TokenType::kName || c.type == TokenType::kString || c.type == TokenType::kInt ||
      c.type == TokenType::kFloat || (c.type == TokenType::kOperator && (c.text == "(" || c.text == "[" || c.text == "{"));
  if (is_op("(")) {
    parse_call_args(*t);
  } else if (arg_start && !is_name("else") && !is_name("or") && !is_name("and")) {
    if (is_name("is")) error(c, "You cannot chain multiple tests with is");
    t->children.push_back(parse_postfix(parse_primary()));
  }
  if (!negated) return t;
  auto n = make_expr(Expr::Kind::kNot, at);
  n->children.push_back(std::move(t));
  return n;
}

}  // namespace lmd::jinja
