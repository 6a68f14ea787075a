// ChatFormatter: how a conversation becomes the prompt text the engine encodes. The one
// interface every caller uses (the server's /v1/chat/completions and /v1/chat/interactive,
// the terminal chat's ChatSession, the Python Pipeline); which implementation a model gets
// is decided once, when the engine is built (src/loader/chat_template_resolver.h):
//
//   JinjaChatFormatter     the model's own Hugging Face template (or --chat-template FILE.jinja)
//                          rendered as transformers' apply_chat_template does (docs/jinja.md);
//                          parsed once, rendered per request (thread-safe).
//   RegistryChatFormatter  lmdeploy v0.1's fixed templates (chat_template.h) for models that
//                          carry no template of their own, or --chat-template NAME|FILE.json.
//
// Messages are OpenAI chat messages as JSON, passed to a Jinja template unchanged (role,
// content as a string or a list of typed parts, tool_calls, tool_call_id, name,
// reasoning_content, ...). Errors (a template's syntax, raise_exception, a limit, a message
// the registry cannot render) are lmd::Error kInvalidArgument naming the cause.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "template/chat_template.h"
#include "template/jinja/jinja.h"

namespace lmd {

class ChatFormatter {
 public:
  virtual ~ChatFormatter() = default;

  // The prompt for `messages` (a JSON list). `tools`: a JSON list or null. `extra`: a JSON
  // object (or null) whose keys become template variables too (documents, enable_thinking...).
  virtual std::string render(const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools,
                             bool add_generation_prompt,
                             const nlohmann::ordered_json& extra = nlohmann::ordered_json()) const = 0;

  // The text to submit for one more user turn of a session whose KV already holds the
  // earlier turns and the previous answer up to its stop token (the interactive route);
  // the whole first turn when sequence_start.
  virtual std::string turn_prompt(const std::string& question, bool sequence_start) const = 0;

  // Texts that end an assistant turn (the EOS / end-of-turn tokens): generation stops there.
  virtual const std::vector<std::string>& stop_words() const = 0;

  // Whether the tokenizer's BOS is prepended when the rendered text is encoded. Registry:
  // yes (lmdeploy v0.1). Jinja: no, the template writes {{ bos_token }} itself where it wants
  // one, as transformers encodes apply_chat_template's text without special tokens.
  virtual bool add_bos() const = 0;

  // "jinja" or "registry"; describe(): where the template came from, for logs.
  virtual const char* kind() const = 0;
  virtual const std::string& describe() const = 0;

  // The registry template behind a RegistryChatFormatter, nullptr for Jinja.
  virtual const ChatTemplate* registry_template() const { return nullptr; }
};

// A parsed Jinja chat template with the tokenizer's special tokens (bos_token, eos_token,
// unk_token, pad_token, ... as a JSON object) as template variables. Throws lmd::Error on a
// syntax error, naming `source`.
std::shared_ptr<const ChatFormatter> make_jinja_formatter(const std::string& template_text, const std::string& source,
                                                          nlohmann::ordered_json special_tokens,
                                                          std::vector<std::string> stop_words,
                                                          const JinjaOptions& options = {});

std::shared_ptr<const ChatFormatter> make_registry_formatter(ChatTemplate tpl, const std::string& source);

// OpenAI messages (JSON) as the registry's ChatMessage list: content a string, null or a list
// of text parts (concatenated); role "developer" is "system". Other parts -> lmd::Error.
std::vector<ChatMessage> registry_messages(const nlohmann::ordered_json& messages);

}  // namespace lmd
