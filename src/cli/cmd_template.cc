// lmdeploy template render --template FILE|MODEL --messages FILE.json [--tools FILE.json]
//                          [--add-generation-prompt] [--bos-token S] [--eos-token S]
//                          [--now-epoch-seconds N]
// Prints exactly the rendered chat template (no trailing newline added).
//   --template: a .jinja file, a .gguf (tokenizer.chat_template) or a Hugging Face directory
//               (tokenizer_config.json "chat_template": a string, or a list of {name, template}
//               whose "default" entry is used; else chat_template.jinja).
//   --messages: a JSON list of messages, or an object {"messages": [...], "tools": [...], ...}
//               whose other keys become template variables too.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "cli/command.h"
#include "core/error.h"
#include "loader/chat_template_resolver.h"
#include "template/jinja/jinja.h"

namespace {

struct TemplateArgs {
  std::string template_source;
  std::string messages;
  std::string tools;
  bool add_generation_prompt = false;
  std::string bos_token;
  std::string eos_token;
  int64_t now_epoch_seconds = -1;
};

std::string read_text(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  LMD_CHECK_KIND(in.good(), kNotFound) << what << ": cannot open " << path;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

nlohmann::ordered_json read_json(const std::string& path, const char* what) {
  const std::string text = read_text(path, what);
  try {
    return nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw lmd::Error(std::string(what) + ": " + path + " is not valid JSON: " + e.what());
  }
}

// The chat template text of a .jinja file, a GGUF or a Hugging Face directory.
std::string load_template_text(const std::string& source) {
  namespace fs = std::filesystem;
  if (fs::is_directory(source) || fs::path(source).extension() == ".gguf") {
    const std::string text = lmd::model_chat_template(source);
    LMD_CHECK_KIND(!text.empty(), kNotFound) << "--template: " << source << " carries no chat template";
    return text;
  }
  return read_text(source, "--template");
}

}  // namespace

LMD_REGISTER_COMMAND(85, [](CLI::App& root) {
  CLI::App& group = lmd::cli::command_group(root, "template", "Chat template tools");
  auto args = std::make_shared<TemplateArgs>();
  CLI::App* cmd = group.add_subcommand("render", "Render a Jinja chat template over messages (as transformers does)");
  cmd->add_option("--template", args->template_source, "a .jinja file, a .gguf or a Hugging Face model directory")->required();
  cmd->add_option("--messages", args->messages, "JSON file: a list of messages or {\"messages\": [...], ...}")->required();
  cmd->add_option("--tools", args->tools, "JSON file: a list of tools (OpenAI function schema)");
  cmd->add_flag(lmd::cli::flag("add_generation_prompt"), args->add_generation_prompt,
                "end with the assistant turn's opening");
  auto* bos = cmd->add_option(lmd::cli::flag("bos_token"), args->bos_token, "value of bos_token");
  auto* eos = cmd->add_option(lmd::cli::flag("eos_token"), args->eos_token, "value of eos_token");
  cmd->add_option(lmd::cli::flag("now_epoch_seconds"), args->now_epoch_seconds,
                  "strftime_now() formats this instant (UTC) instead of the local time (reproducible output)");
  cmd->callback([args, bos, eos] {
    const auto messages = read_json(args->messages, "--messages");
    nlohmann::ordered_json context = nlohmann::ordered_json::object();
    if (messages.is_array()) {
      context["messages"] = messages;
    } else {
      LMD_CHECK(messages.is_object() && messages.contains("messages"))
          << "--messages: " << args->messages << " must hold a list of messages or an object with \"messages\"";
      context = messages;
    }
    if (!args->tools.empty()) context["tools"] = read_json(args->tools, "--tools");
    if (args->add_generation_prompt || !context.contains("add_generation_prompt")) {
      context["add_generation_prompt"] = args->add_generation_prompt;
    }
    if (bos->count()) context["bos_token"] = args->bos_token;
    if (eos->count()) context["eos_token"] = args->eos_token;
    lmd::JinjaOptions opts;
    opts.now_epoch_seconds = args->now_epoch_seconds;
    const auto tmpl = lmd::JinjaTemplate::parse(load_template_text(args->template_source), args->template_source, opts);
    const std::string out = tmpl.render(context);
    std::fwrite(out.data(), 1, out.size(), stdout);
  });
});
