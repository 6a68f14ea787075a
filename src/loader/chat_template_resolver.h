// Which chat template a model gets: the one place this rule is written (README "Chat
// templates"). In order:
//
//   1. --chat-template FILE|NAME (EngineConfig::chat_template): a .jinja file (any file that
//      is not JSON), a JSON file of lmdeploy's custom-template fields (chat_template.h), or a
//      registry name;
//   2. the model's own Jinja template: a Hugging Face directory's tokenizer_config.json
//      "chat_template" (a string, or a list of {name, template}: the "default" one), else its
//      chat_template.jinja; a GGUF's tokenizer.chat_template;
//   3. the registry by --model-name / the model's name (a workspace's config.ini), as the seed
//      did; a model with none of these gets "base" (the prompt as is).
//
// A Jinja template sees the tokenizer's special tokens (bos_token, eos_token, unk_token,
// pad_token, ... from tokenizer_config.json; from the GGUF's token ids) and stops at the EOS
// token and the end-of-turn tokens it writes (<|im_end|>, <|eot_id|>, <end_of_turn>, ...).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "template/chat_formatter.h"
#include "tokenizer/tokenizer.h"

namespace lmd {

// The Jinja chat template shipped with a model (.gguf, Hugging Face directory, or a .jinja
// file), "" when it has none. Throws lmd::Error for a malformed tokenizer_config.json or a
// chat_template list without a "default" entry, naming the file.
std::string model_chat_template(const std::string& path);

// The special tokens a template sees, as transformers' special_tokens_map names them.
nlohmann::ordered_json model_special_tokens(const std::string& model_path, const Tokenizer& tokenizer);

// The formatter for a model (the rule above). `registry_name`: --model-name, else the
// model's own name. Throws lmd::Error naming the flag / file at fault.
std::shared_ptr<const ChatFormatter> resolve_chat_formatter(const std::string& model_path,
                                                            const std::string& chat_template_flag,
                                                            const std::string& registry_name,
                                                            const Tokenizer& tokenizer);

}  // namespace lmd
