#include "template/jinja/parser.h"

#include "template/jinja/parser_impl.h"

namespace lmd::jinja {

namespace {

// Names mentioned anywhere in a macro body (decides whether it accepts caller / varargs /
// kwargs, as jinja2 decides from the body's undeclared names).
void collect_names(const Expr* e, std::vector<std::string>& out);
void collect_names(const Body& body, std::vector<std::string>& out) {
  for (const auto& s : body) {
    collect_names(s->expr.get(), out);
    collect_names(s->cond.get(), out);
    for (const auto& [test, b] : s->branches) {
      collect_names(test.get(), out);
      collect_names(b, out);
    }
    collect_names(s->body, out);
    collect_names(s->else_body, out);
    for (const auto& v : s->with_values) collect_names(v.get(), out);
    if (s->macro) {
      for (const auto& d : s->macro->defaults) collect_names(d.get(), out);
      collect_names(s->macro->body, out);
    }
  }
}
void collect_names(const Expr* e, std::vector<std::string>& out) {
  if (!e) return;
  if (e->kind == Expr::Kind::kName) out.push_back(e->name);
  for (const auto& c : e->children) collect_names(c.get(), out);
  for (const auto& kv : e->kwargs) collect_names(kv.second.get(), out);
  collect_names(e->star_args.get(), out);
  collect_names(e->star_kwargs.get(), out);
}

}  // namespace

void Parser::error(const Token& t, const std::string& message) { throw_template_error(name_, t.line, t.column, message); }

std::string Parser::describe(const Token& t) {
  switch (t.type) {
    case TokenType::kEof: return "end of template";
    case TokenType::kBlockEnd: return "end of statement block";
    case TokenType::kVarEnd: return "end of print statement";
    case TokenType::kBlockBegin: return "begin of statement block";
    case TokenType::kVarBegin: return "begin of print statement";
    case TokenType::kData: return "template data";
    case TokenType::kString: return "string";
    default: return "'" + t.text + "'";
  }
}

const Token& Parser::expect(TokenType type, const char* what) {
  if (cur().type != type) error(cur(), std::string("expected ") + what + ", got " + describe(cur()));
  return next();
}

void Parser::expect_op(const char* op) {
  if (!is_op(op)) error(cur(), std::string("expected '") + op + "', got " + describe(cur()));
  next();
}

const std::string& Parser::expect_name() { return expect(TokenType::kName, "name").text; }

Parser::DepthGuard::DepthGuard(Parser& p) : p_(p) {
  if (++p_.depth_ > p_.max_depth_) p_.error(p_.cur(), "nesting too deep (limit: " + std::to_string(p_.max_depth_) + ")");
}

Body Parser::parse_body(const std::vector<std::string>& end_tags) {
  DepthGuard guard(*this);
  Body body;
  while (true) {
    const Token& t = cur();
    if (t.type == TokenType::kData) {
      auto s = make_stmt(Stmt::Kind::kOutput, t);
      s->text = t.text;
      next();
      body.push_back(std::move(s));
    } else if (t.type == TokenType::kVarBegin) {
      next();
      auto s = make_stmt(Stmt::Kind::kPrint, cur());
      s->expr = parse_tuple(false, true, {}, false);
      expect(TokenType::kVarEnd, "end of print statement");
      body.push_back(std::move(s));
    } else if (t.type == TokenType::kBlockBegin) {
      next();
      if (cur().type == TokenType::kName) {
        for (const auto& tag : end_tags) {
          if (cur().text == tag) return body;
        }
      }
      body.push_back(parse_statement(end_tags));
    } else if (t.type == TokenType::kEof) {
      if (!end_tags.empty()) {
        std::string wanted;
        for (const auto& tag : end_tags) wanted += (wanted.empty() ? "'" : " or '") + tag + "'";
        error(t, "Unexpected end of template. Jinja was looking for the following tags: " + wanted + ".");
      }
      return body;
    } else {
      error(t, "unexpected " + describe(t));
    }
  }
}

StmtPtr Parser::parse_statement(const std::vector<std::string>& enclosing_end_tags) {
  const Token& t = cur();
  if (t.type != TokenType::kName) error(t, "tag name expected");
  const std::string tag = t.text;
  if (tag == "for") return parse_for();
  if (tag == "if") return parse_if();
  if (tag == "set") return parse_set();
  if (tag == "macro") return parse_macro();
  if (tag == "call") return parse_call_block();
  if (tag == "filter") return parse_filter_block();
  if (tag == "with") return parse_with();
  if (tag == "generation") {
    auto s = make_stmt(Stmt::Kind::kScope, next());
    expect(TokenType::kBlockEnd, "end of statement block");
    s->body = parse_body({"endgeneration"});
    next();
    expect(TokenType::kBlockEnd, "end of statement block");
    return s;
  }
  if (tag == "break" || tag == "continue") {
    if (loop_depth_ == 0) error(t, "'" + tag + "' outside of a loop");
    auto s = make_stmt(tag == "break" ? Stmt::Kind::kBreak : Stmt::Kind::kContinue, next());
    expect(TokenType::kBlockEnd, "end of statement block");
    return s;
  }
  std::string msg = "Encountered unknown tag '" + tag + "'.";
  if (!enclosing_end_tags.empty()) {
    std::string wanted;
    for (const auto& e : enclosing_end_tags) wanted += (wanted.empty() ? "'" : " or '") + e + "'";
    msg += " Jinja was looking for the following tags: " + wanted + ".";
  }
  error(t, msg);
}

StmtPtr Parser::parse_for() {
  auto s = make_stmt(Stmt::Kind::kFor, next());
  s->target = parse_assign_target(true, {"in"}, false);
  if (!is_name("in")) error(cur(), "expected 'in', got " + describe(cur()));
  next();
  s->expr = parse_tuple(false, false, {"recursive"}, false);
  if (is_name("if")) {
    next();
    s->cond = parse_expression(true);
  }
  if (is_name("recursive")) error(cur(), "recursive for-loops are not supported");
  expect(TokenType::kBlockEnd, "end of statement block");
  ++loop_depth_;
  s->body = parse_body({"endfor", "else"});
  --loop_depth_;
  if (next().text == "else") {
    expect(TokenType::kBlockEnd, "end of statement block");
    s->else_body = parse_body({"endfor"});
    next();
  }
  expect(TokenType::kBlockEnd, "end of statement block");
  return s;
}

StmtPtr Parser::parse_if() {
  auto s = make_stmt(Stmt::Kind::kIf, next());
  while (true) {
    ExprPtr test = parse_tuple(false, false, {}, false);
    expect(TokenType::kBlockEnd, "end of statement block");
    Body body = parse_body({"elif", "else", "endif"});
    s->branches.emplace_back(std::move(test), std::move(body));
    const std::string tag = next().text;
    if (tag == "elif") continue;
    if (tag == "else") {
      expect(TokenType::kBlockEnd, "end of statement block");
      s->else_body = parse_body({"endif"});
      next();
    }
    break;
  }
  expect(TokenType::kBlockEnd, "end of statement block");
  return s;
}

StmtPtr Parser::parse_set() {
  const Token& start = next();
  Target target = parse_assign_target(true, {}, true);
  if (is_op("=")) {
    next();
    auto s = make_stmt(Stmt::Kind::kSet, start);
    s->target = std::move(target);
    s->expr = parse_tuple(false, true, {}, false);
    expect(TokenType::kBlockEnd, "end of statement block");
    return s;
  }
  auto s = make_stmt(Stmt::Kind::kSetBlock, start);
  s->target = std::move(target);
  if (is_op("|")) s->expr = parse_filter(nullptr, false);
  expect(TokenType::kBlockEnd, "end of statement block");
  s->body = parse_body({"endset"});
  next();
  expect(TokenType::kBlockEnd, "end of statement block");
  return s;
}

void Parser::parse_signature(MacroDef& m) {
  expect_op("(");
  while (!is_op(")")) {
    if (!m.params.empty()) expect_op(",");
    if (is_op(")")) break;
    const Token& t = cur();
    const std::string& name = expect_name();
    if (name == "true" || name == "false" || name == "none" || name == "True" || name == "False" || name == "None") {
      error(t, "can't assign to literal '" + name + "'");
    }
    m.params.push_back(name);
    if (is_op("=")) {
      next();
      m.defaults.push_back(parse_expression(true));
    } else {
      if (!m.defaults.empty() && m.defaults.back()) error(t, "non-default argument follows default argument");
      m.defaults.push_back(nullptr);
    }
  }
  next();
}

void Parser::finish_macro(MacroDef& m) {
  std::vector<std::string> names;
  collect_names(m.body, names);
  for (const auto& n : names) {
    m.uses_caller |= n == "caller";
    m.uses_varargs |= n == "varargs";
    m.uses_kwargs |= n == "kwargs";
  }
}

StmtPtr Parser::parse_macro() {
  auto s = make_stmt(Stmt::Kind::kMacro, next());
  s->macro = std::make_shared<MacroDef>();
  s->macro->name = expect_name();
  parse_signature(*s->macro);
  expect(TokenType::kBlockEnd, "end of statement block");
  const int saved_loops = loop_depth_;
  loop_depth_ = 0;
  s->macro->body = parse_body({"endmacro"});
  loop_depth_ = saved_loops;
  next();
  expect(TokenType::kBlockEnd, "end of statement block");
  finish_macro(*s->macro);
  return s;
}

StmtPtr Parser::parse_call_block() {
  auto s = make_stmt(Stmt::Kind::kCallBlock, next());
  s->macro = std::make_shared<MacroDef>();
  s->macro->name = "caller";
  if (is_op("(")) parse_signature(*s->macro);
  const Token& at = cur();
  s->expr = parse_expression(true);
  if (s->expr->kind != Expr::Kind::kCall) error(at, "expected call");
  expect(TokenType::kBlockEnd, "end of statement block");
  const int saved_loops = loop_depth_;
  loop_depth_ = 0;
  s->macro->body = parse_body({"endcall"});
  loop_depth_ = saved_loops;
  next();
  expect(TokenType::kBlockEnd, "end of statement block");
  finish_macro(*s->macro);
  return s;
}

StmtPtr Parser::parse_filter_block() {
  auto s = make_stmt(Stmt::Kind::kFilterBlock, next());
  s->expr = parse_filter(nullptr, true);
  expect(TokenType::kBlockEnd, "end of statement block");
  s->body = parse_body({"endfilter"});
  next();
  expect(TokenType::kBlockEnd, "end of statement block");
  return s;
}

StmtPtr Parser::parse_with() {
  auto s = make_stmt(Stmt::Kind::kWith, next());
  while (cur().type != TokenType::kBlockEnd) {
    if (!s->with_targets.empty()) expect_op(",");
    s->with_targets.push_back(parse_assign_target(false, {}, false));
    expect_op("=");
    s->with_values.push_back(parse_expression(true));
  }
  next();
  s->body = parse_body({"endwith"});
  next();
  expect(TokenType::kBlockEnd, "end of statement block");
  return s;
}

Target Parser::parse_assign_target(bool with_tuple, const std::vector<std::string>& extra_end, bool with_namespace) {
  const Token& start = cur();
  if (with_namespace && start.type == TokenType::kName && look().type == TokenType::kOperator && look().text == ".") {
    Target t;
    t.kind = Target::Kind::kNamespaceAttr;
    t.line = start.line, t.column = start.column;
    t.name = next().text;
    next();
    t.attr = expect_name();
    return t;
  }
  ExprPtr e = with_tuple ? parse_tuple(true, true, extra_end, false) : parse_primary();
  return to_target(*e);
}

Target Parser::to_target(const Expr& e) {
  Target t;
  t.line = e.line, t.column = e.column;
  if (e.kind == Expr::Kind::kName) {
    t.name = e.name;
    return t;
  }
  if (e.kind == Expr::Kind::kTuple) {
    t.kind = Target::Kind::kTuple;
    for (const auto& c : e.children) t.items.push_back(to_target(*c));
    return t;
  }
  Token at;
  at.line = e.line, at.column = e.column;
  error(at, e.kind == Expr::Kind::kConst ? "can't assign to literal" : "can't assign to expression");
}

Body parse_template(const std::vector<Token>& tokens, const std::string& template_name, int max_depth) {
  Parser p(tokens, template_name, max_depth);
  return p.parse_body({});
}

}  // namespace lmd::jinja
