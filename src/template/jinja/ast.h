// The syntax tree the parser builds and the interpreter walks. Every node keeps the line
// and column of its first token, for error messages.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "template/jinja/value.h"

namespace lmd::jinja {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct Expr {
  // Operand layout per kind (children):
  //   kConst      -                         (constant)
  //   kName       -                         (name)
  //   kList/kTuple items
  //   kDict       key0, value0, key1, value1, ...
  //   kGetAttr    object                    (name = attribute)
  //   kGetItem    object, key
  //   kSlice      object, start, stop, step (each may be null)
  //   kCall       callee, positional args... (kwargs, star_args, star_kwargs)
  //   kFilter     value, args...            (name = filter; value is null inside filter blocks
  //                                          and `set x | f`, where the block's text is used)
  //   kTest       value, args...            (name = test)
  //   kNeg/kPos/kNot operand
  //   kBinary     left, right               (name = "+", "-", "*", "/", "//", "%", "**")
  //   kConcat     operands...               (`~`)
  //   kAnd/kOr    left, right
  //   kCompare    first, then one operand per entry of compare_ops
  //   kCondExpr   test, then, else (else may be null: the result is undefined)
  enum class Kind {
    kConst, kName, kList, kTuple, kDict, kGetAttr, kGetItem, kSlice, kCall, kFilter, kTest,
    kNeg, kPos, kNot, kBinary, kConcat, kAnd, kOr, kCompare, kCondExpr
  };
  Kind kind;
  int line = 0, column = 0;
  Value constant;
  std::string name;
  std::vector<ExprPtr> children;
  std::vector<std::string> compare_ops;  // "==", "!=", "<", "<=", ">", ">=", "in", "notin"
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  ExprPtr star_args, star_kwargs;
};

// An assignment target: `x`, `a, b` (nested tuples allowed) or `ns.attr`.
struct Target {
  enum class Kind { kName, kTuple, kNamespaceAttr };
  Kind kind = Kind::kName;
  std::string name;  // variable (or the namespace variable for kNamespaceAttr)
  std::string attr;
  std::vector<Target> items;
  int line = 0, column = 0;
};

struct MacroDef {
  std::string name;
  std::vector<std::string> params;
  std::vector<ExprPtr> defaults;  // one per param, null when the param has no default
  Body body;
  // Whether the body mentions these names: they decide which extra arguments are accepted.
  bool uses_caller = false, uses_varargs = false, uses_kwargs = false;
};

struct Stmt {
  // kOutput: text. kPrint: expr. kIf: branches (+ else_body). kFor: target, expr (iterable),
  // cond (filter, may be null), body, else_body, recursive. kSet: target, expr.
  // kSetBlock: target, body, expr (filter chain or null). kMacro: macro. kCallBlock: expr
  // (the call), macro (the caller). kFilterBlock: expr (filter chain), body. kWith:
  // with_targets / with_values, body. kScope: body (`generation` blocks). kBreak, kContinue.
  enum class Kind { kOutput, kPrint, kIf, kFor, kSet, kSetBlock, kMacro, kCallBlock, kFilterBlock, kWith, kScope, kBreak, kContinue };
  Kind kind;
  int line = 0, column = 0;
  std::string text;
  ExprPtr expr, cond;
  std::vector<std::pair<ExprPtr, Body>> branches;
  Body body, else_body;
  Target target;
  bool recursive = false;
  std::shared_ptr<MacroDef> macro;
  std::vector<Target> with_targets;
  std::vector<ExprPtr> with_values;
};

}  // namespace lmd::jinja
