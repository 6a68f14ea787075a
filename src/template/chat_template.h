// Chat templates: how a conversation becomes the prompt text a model was trained on.
// Named templates follow lmdeploy v0.1 (internlm-chat-7b, internlm-chat-20b, llama2,
// qwen-7b, vicuna, base) plus smollm2; a custom one is read from JSON with lmdeploy's
// field names {model_name, system, meta_instruction, eosys, user, eoh, assistant, eoa,
// separator, capability, stop_words, session_len}.
//
// A turn is rendered as
//   [system + (system message or meta_instruction) + eosys]   (first turn only)
//   user + prompt + eoh + assistant                            (then the model answers)
//   answer + eoa + separator                                   (before the next user turn)
#pragma once

#include <string>
#include <vector>

namespace lmd {

struct ChatMessage {
  std::string role;  // system | user | assistant
  std::string content;
};

struct ChatTemplate {
  std::string model_name = "base";
  std::string system;
  std::string meta_instruction;
  std::string eosys;
  std::string user;
  std::string eoh;
  std::string assistant;
  std::string eoa;
  std::string separator;
  std::string capability = "chat";  // chat | completion
  std::vector<std::string> stop_words;
  int session_len = 2048;

  // lmdeploy's get_prompt: one user query; the system part only when sequence_start.
  // In capability "completion" (and for "base") the prompt is returned unchanged.
  std::string get_prompt(const std::string& prompt, bool sequence_start = true) const;
  // A whole conversation (OpenAI messages) ending with the assistant prefix. Roles other
  // than system/user/assistant -> lmd::Error naming the role and its index.
  std::string messages2prompt(const std::vector<ChatMessage>& messages) const;
};

// Names `lmdeploy list` prints, in a stable order.
std::vector<std::string> template_names();
// The named template; lmd::Error listing the known names when unknown.
ChatTemplate get_template(const std::string& name);
bool has_template(const std::string& name);
// A custom template from a JSON file (lmdeploy's fields; unknown fields are an error
// naming them, so typos do not pass silently).
ChatTemplate load_template_json(const std::string& path);

// Which template a model gets (the one place this rule is written; `lmdeploy list` names them):
//  1. `model_name` when it names a known template (what convert was given, or --model-name);
//  2. else a Jinja chat_template from the GGUF / tokenizer_config.json recognised by its
//     markers (ChatML with the SmolLM system line -> smollm2, other ChatML -> qwen-7b,
//     [INST] -> llama2, <|User|> -> internlm-chat-7b);
//  3. else "base".
std::string resolve_template_name(const std::string& model_name, const std::string& jinja_template);

}  // namespace lmd
