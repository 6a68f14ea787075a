// Jinja parser: tokens -> statement tree, following jinja2's grammar and operator
// precedence (or < and < not < comparisons < + - < ~ < * / // % < ** < unary - + < filters,
// tests and postfix access). Statements: if / for / set / macro / call / filter / with /
// break / continue (loopcontrols) / generation (transformers' extension).
//
// Nesting (brackets, unary chains, statement blocks) is bounded by `max_depth`: deeper input
// is an lmd::Error, never a stack overflow. Errors name the template, line and column.
#pragma once

#include <string>
#include <vector>

#include "template/jinja/ast.h"
#include "template/jinja/lexer.h"

namespace lmd::jinja {

Body parse_template(const std::vector<Token>& tokens, const std::string& template_name, int max_depth);

}  // namespace lmd::jinja
