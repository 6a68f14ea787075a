#include "template/jinja/jinja.h"

#include "core/error.h"
#include "template/jinja/builtins.h"
#include "template/jinja/interpreter.h"
#include "template/jinja/lexer.h"
#include "template/jinja/parser.h"

namespace lmd {

JinjaTemplate JinjaTemplate::parse(const std::string& text, const std::string& name, const JinjaOptions& options) {
  if (text.size() > options.max_template_bytes) {
    throw Error("template '" + name + "': " + std::to_string(text.size()) + " bytes exceeds max_template_bytes (" +
                    std::to_string(options.max_template_bytes) + ")",
                Error::Kind::kInvalidArgument);
  }
  jinja::LexOptions lex;
  lex.trim_blocks = options.trim_blocks;
  lex.lstrip_blocks = options.lstrip_blocks;
  JinjaTemplate t;
  t.name_ = name;
  t.options_ = options;
  t.body_ = std::make_shared<const jinja::Body>(
      jinja::parse_template(jinja::tokenize(text, name, lex), name, options.max_nesting_depth));
  return t;
}

std::string JinjaTemplate::render(const nlohmann::ordered_json& context) const {
  if (!context.is_object()) throw Error("template '" + name_ + "': the context must be a JSON object");
  try {
    jinja::Interpreter interp(options_, name_);
    return interp.render(*body_, jinja::json_to_value(context));
  } catch (const jinja::Failure& f) {
    throw Error("template '" + name_ + "': " + f.message, Error::Kind::kInvalidArgument);
  }
}

std::string JinjaTemplate::render(const nlohmann::json& context) const {
  return render(nlohmann::ordered_json::parse(context.dump()));
}

std::string render_jinja(const std::string& template_text, const nlohmann::ordered_json& context,
                         const JinjaOptions& options, const std::string& name) {
  return JinjaTemplate::parse(template_text, name, options).render(context);
}

}  // namespace lmd
