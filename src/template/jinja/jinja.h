// Jinja2 templates as Hugging Face transformers renders chat templates: jinja2's
// ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
// extensions=[loopcontrols]) with transformers' `tojson` filter (json.dumps, non-ASCII kept),
// `raise_exception(msg)` and `strftime_now(fmt)` globals, and its `{% generation %}` tag.
// The output is meant to be byte-identical to Python's; tests/data/templates/golden.jsonl
// (tools/gen_template_golden_jinja.py) is the proof.
//
// Sandbox: templates see only the context data and the built-ins; `_`-prefixed attributes,
// mutating methods (list.append, dict.update, ...) and ranges over 100000 items are refused
// as jinja2's sandbox refuses them. Bounds (JinjaOptions) turn runaway templates into
// errors, never a crash, hang or stack overflow.
//
// Errors: lmd::Error (Kind::kInvalidArgument) whose message names the template, line and
// column: "template 'chat', line 3, column 12: No filter named 'frobnicate'.". A template's
// raise_exception('msg') gives "...: msg".
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace lmd::jinja {
struct Stmt;
}

namespace lmd {

struct JinjaOptions {
  bool trim_blocks = true;
  bool lstrip_blocks = true;
  size_t max_template_bytes = 1 << 20;       // template text
  size_t max_output_bytes = 1 << 20;         // rendered text, and any single string or list built on the way
  int64_t max_loop_iterations = 1000000;     // all for-loop iterations of one render
  int max_recursion_depth = 200;             // nested macro / caller calls
  int max_nesting_depth = 100;               // brackets / blocks / unary chains in the template text
  // Work budget per render, in bytes copied or elements visited by string, list and
  // comparison operations: bounds run time when each step is cheap but large.
  int64_t max_work = int64_t{1} << 30;
  // strftime_now() formats this instant (seconds since the epoch, as UTC) when >= 0, else
  // the current local time. Tests fix it so output does not depend on the clock.
  int64_t now_epoch_seconds = -1;
};

// A parsed template: parse once, render many times (a server caches these per model).
class JinjaTemplate {
 public:
  // Throws lmd::Error on syntax errors or when the text exceeds max_template_bytes.
  static JinjaTemplate parse(const std::string& text, const std::string& name, const JinjaOptions& options = {});

  // `context` is a JSON object: its keys become template variables (objects keep their key
  // order, as Python dicts do). Thread-safe: rendering does not modify the template.
  std::string render(const nlohmann::ordered_json& context) const;
  std::string render(const nlohmann::json& context) const;

  const std::string& name() const { return name_; }
  const JinjaOptions& options() const { return options_; }

 private:
  std::string name_;
  JinjaOptions options_;
  std::shared_ptr<const std::vector<std::unique_ptr<jinja::Stmt>>> body_;
};

std::string render_jinja(const std::string& template_text, const nlohmann::ordered_json& context,
                         const JinjaOptions& options = {}, const std::string& name = "template");

}  // namespace lmd
