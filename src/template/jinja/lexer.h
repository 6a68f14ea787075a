// Jinja lexer: template text -> tokens, with jinja2's whitespace rules applied to the data
// between tags (so the parser never sees whitespace control).
//
// Contract (jinja2 3.x lexer with trim_blocks / lstrip_blocks as configured):
//   * "\r\n" and "\r" become "\n"; one trailing newline of the template is dropped;
//   * `{%-` / `{{-` / `{#-` strip all whitespace before the tag, `-%}` / `-}}` / `-#}` all
//     whitespace after it;
//   * lstrip_blocks: spaces and tabs between a line start and `{%` / `{#` are removed
//     (not before `{{`, not when the tag is written `{%+`);
//   * trim_blocks: the first newline after `%}` / `#}` is removed (not when written `+%}`);
//   * `{% raw %}...{% endraw %}` yields its content as data; comments yield nothing;
//   * inside tags, end delimiters are only recognised while brackets are balanced.
// Errors: lmd::Error naming the template, line and column.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lmd::jinja {

enum class TokenType { kData, kVarBegin, kVarEnd, kBlockBegin, kBlockEnd, kName, kString, kInt, kFloat, kOperator, kEof };

struct Token {
  TokenType type = TokenType::kEof;
  std::string text;     // data, name, operator, or the decoded value of a string literal
  int64_t int_value = 0;
  double float_value = 0;
  int line = 1;
  int column = 1;
};

struct LexOptions {
  bool trim_blocks = true;
  bool lstrip_blocks = true;
};

// Also used by the parser and interpreter for error messages.
[[noreturn]] void throw_template_error(const std::string& template_name, int line, int column, const std::string& message);

std::vector<Token> tokenize(const std::string& source, const std::string& template_name, const LexOptions& options);

}  // namespace lmd::jinja
