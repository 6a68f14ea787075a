// The parser class shared by parser.cc (statements) and parser_expr.cc (expressions).
// Internal to src/template/jinja.
#pragma once

#include <string>
#include <vector>

#include "template/jinja/ast.h"
#include "template/jinja/lexer.h"

namespace lmd::jinja {

class Parser {
 public:
  Parser(const std::vector<Token>& tokens, const std::string& name, int max_depth)
      : tokens_(tokens), name_(name), max_depth_(max_depth) {}

  Body parse_body(const std::vector<std::string>& end_tags);

 private:
  // Counts nesting on the C++ stack; throws past max_depth_.
  class DepthGuard {
   public:
    explicit DepthGuard(Parser& p);
    ~DepthGuard() { --p_.depth_; }

   private:
    Parser& p_;
  };

  // ---- token stream
  const Token& cur() const { return tokens_[pos_]; }
  const Token& look() const { return tokens_[pos_ + 1 < tokens_.size() ? pos_ + 1 : pos_]; }
  const Token& next() { return tokens_[pos_ + 1 < tokens_.size() ? pos_++ : pos_]; }
  bool is_op(const char* op) const { return cur().type == TokenType::kOperator && cur().text == op; }
  bool is_name(const char* name) const { return cur().type == TokenType::kName && cur().text == name; }
  const Token& expect(TokenType type, const char* what);
  void expect_op(const char* op);
  const std::string& expect_name();
  [[noreturn]] void error(const Token& t, const std::string& message);
  static std::string describe(const Token& t);
  template <typename Node, typename K>
  std::unique_ptr<Node> make(K kind, const Token& at) {
    auto n = std::make_unique<Node>();
    n->kind = kind;
    n->line = at.line;
    n->column = at.column;
    return n;
  }
  StmtPtr make_stmt(Stmt::Kind kind, const Token& at) { return make<Stmt>(kind, at); }
  ExprPtr make_expr(Expr::Kind kind, const Token& at) { return make<Expr>(kind, at); }

  // ---- statements (parser.cc)
  StmtPtr parse_statement(const std::vector<std::string>& enclosing_end_tags);
  StmtPtr parse_for();
  StmtPtr parse_if();
  StmtPtr parse_set();
  StmtPtr parse_macro();
  StmtPtr parse_call_block();
  StmtPtr parse_filter_block();
  StmtPtr parse_with();
  void parse_signature(MacroDef& m);
  void finish_macro(MacroDef& m);
  Target parse_assign_target(bool with_tuple, const std::vector<std::string>& extra_end, bool with_namespace);
  Target to_target(const Expr& e);

  // ---- expressions (parser_expr.cc)
  ExprPtr parse_tuple(bool simplified, bool with_condexpr, const std::vector<std::string>& extra_end,
                      bool explicit_parentheses);
  ExprPtr parse_expression(bool with_condexpr);
  ExprPtr parse_condexpr();
  ExprPtr parse_or();
  ExprPtr parse_and();
  // Left-associative `a KEYWORD b KEYWORD c` over `operand` (or / and).
  ExprPtr parse_logical(const char* keyword, Expr::Kind kind, ExprPtr (Parser::*operand)());
  ExprPtr parse_not();
  ExprPtr parse_compare();
  ExprPtr parse_math1();
  ExprPtr parse_concat();
  ExprPtr parse_math2();
  ExprPtr parse_pow();
  ExprPtr parse_unary(bool with_filter);
  ExprPtr parse_primary();
  ExprPtr parse_list();
  ExprPtr parse_dict();
  ExprPtr parse_postfix(ExprPtr node);
  ExprPtr parse_filter_expr(ExprPtr node);
  ExprPtr parse_subscript(ExprPtr node);
  ExprPtr parse_subscribed(ExprPtr object, const Token& at);
  void parse_call_args(Expr& call);
  ExprPtr parse_filter(ExprPtr node, bool start_inline);
  ExprPtr parse_test(ExprPtr node);
  bool is_tuple_end(const std::vector<std::string>& extra_end) const;

  const std::vector<Token>& tokens_;
  const std::string& name_;
  size_t pos_ = 0;
  int depth_ = 0;
  int max_depth_;
  int loop_depth_ = 0;  // for break / continue outside a loop
};

}  // namespace lmd::jinja
