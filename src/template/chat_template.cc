#include "template/chat_template.h"

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/error.h"

namespace lmd {
namespace {

const char* kInternLMSystem =
    "You are an AI assistant whose name is InternLM (书生·浦语).\n"
    "- InternLM (书生·浦语) is a conversational language model that is developed by Shanghai AI "
    "Laboratory (上海人工智能实验室). It is designed to be helpful, honest, and harmless.\n"
    "- InternLM (书生·浦语) can understand and communicate fluently in the language chosen by the "
    "user such as English and 中文.";

ChatTemplate chatml(const std::string& name, const std::string& meta, int session_len) {
  ChatTemplate t;
  t.model_name = name;
  t.system = "<|im_start|>system\n";
  t.meta_instruction = meta;
  t.eosys = "<|im_end|>\n";
  t.user = "<|im_start|>user\n";
  t.eoh = "<|im_end|>\n";
  t.assistant = "<|im_start|>assistant\n";
  t.eoa = "<|im_end|>";
  t.separator = "\n";
  t.stop_words = {"<|im_end|>"};
  t.session_len = session_len;
  return t;
}

std::map<std::string, ChatTemplate> build_registry() {
  std::map<std::string, ChatTemplate> r;
  ChatTemplate base;
  base.model_name = "base";
  base.capability = "completion";
  r["base"] = base;

  ChatTemplate internlm;
  internlm.model_name = "internlm-chat-7b";
  internlm.system = "<|System|>:";
  internlm.meta_instruction = kInternLMSystem;
  internlm.eosys = "\n";
  internlm.user = "<|User|>:";
  internlm.eoh = "\n";
  internlm.assistant = "<|Bot|>:";
  internlm.eoa = "<eoa>";
  internlm.separator = "\n";
  internlm.stop_words = {"<eoa>"};
  internlm.session_len = 2048;
  r["internlm-chat-7b"] = internlm;
  ChatTemplate internlm20 = internlm;
  internlm20.model_name = "internlm-chat-20b";
  internlm20.session_len = 8192;
  r["internlm-chat-20b"] = internlm20;

  ChatTemplate llama2;
  llama2.model_name = "llama2";
  llama2.system = "[INST] <<SYS>>\n";
  llama2.meta_instruction =
      "You are a helpful, respectful and honest assistant. Always answer as helpfully as possible, "
      "while being safe.";
  llama2.eosys = "\n<</SYS>>\n\n";
  llama2.user = "[INST] ";
  llama2.eoh = " [/INST]";
  llama2.assistant = "";
  llama2.eoa = "</s>";
  llama2.separator = "";
  llama2.session_len = 4096;
  r["llama2"] = llama2;

  r["qwen-7b"] = chatml("qwen-7b", "You are a helpful assistant.", 8192);
  r["smollm2"] = chatml("smollm2", "You are a helpful AI assistant named SmolLM, trained by Hugging Face",
                        8192);

  ChatTemplate vicuna;
  vicuna.model_name = "vicuna";
  vicuna.system = "";
  vicuna.meta_instruction =
      "A chat between a curious user and an artificial intelligence assistant. The assistant gives "
      "helpful, detailed, and polite answers to the user's questions.";
  vicuna.eosys = " ";
  vicuna.user = "USER: ";
  vicuna.eoh = " ";
  vicuna.assistant = "ASSISTANT:";
  vicuna.eoa = "</s>";
  vicuna.separator = " ";
  vicuna.session_len = 2048;
  r["vicuna"] = vicuna;
  return r;
}

const std::map<std::string, ChatTemplate>& registry() {
  static const std::map<std::string, ChatTemplate> r = build_registry();
  return r;
}

}  // namespace

std::string ChatTemplate::get_prompt(const std::string& prompt, bool sequence_start) const {
  if (capability == "completion") return prompt;
  std::string out;
  if (sequence_start) {
    if (!meta_instruction.empty() || !system.empty()) out += system + meta_instruction + eosys;
  } else {
    out += separator;
  }
  out += user + prompt + eoh + assistant;
  return out;
}

std::string ChatTemplate::messages2prompt(const std::vector<ChatMessage>& messages) const {
  if (capability == "completion") {
    std::string out;
    for (const auto& m : messages) out += m.content;
    return out;
  }
  std::string out;
  bool has_system = false;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (messages[i].role == "system") has_system = true;
  }
  if (!has_system && (!meta_instruction.empty() || !system.empty())) {
    out += system + meta_instruction + eosys;
  }
  for (size_t i = 0; i < messages.size(); ++i) {
    const auto& m = messages[i];
    if (m.role == "system") {
      out += system + m.content + eosys;
    } else if (m.role == "user") {
      out += user + m.content + eoh;
    } else if (m.role == "assistant") {
      out += assistant + m.content + eoa + separator;
    } else {
      LMD_FAIL() << "messages[" << i << "].role: unknown role '" << m.role
                 << "' (expected system, user or assistant)";
    }
  }
  out += assistant;
  return out;
}

std::vector<std::string> template_names() {
  return {"base", "internlm-chat-7b", "internlm-chat-20b", "llama2", "qwen-7b", "smollm2", "vicuna"};
}

bool has_template(const std::string& name) { return registry().count(name) != 0; }

ChatTemplate get_template(const std::string& name) {
  auto it = registry().find(name);
  if (it == registry().end()) {
    std::string known;
    for (const auto& n : template_names()) known += (known.empty() ? "" : ", ") + n;
    throw Error("unknown chat template '" + name + "' (known: " + known + ")", Error::Kind::kNotFound);
  }
  return it->second;
}

ChatTemplate load_template_json(const std::string& path) {
  std::ifstream in(path);
  LMD_CHECK_KIND(in.good(), kNotFound) << path << ": cannot open chat template file";
  nlohmann::json j;
  try {
    in >> j;
  } catch (const std::exception& e) {
    throw Error(path + ": invalid JSON: " + e.what());
  }
  LMD_CHECK(j.is_object()) << path << ": a chat template must be a JSON object";
  ChatTemplate t;
  // A custom template starts empty except for the capability.
  t.model_name = "custom";
  const std::set<std::string> string_fields = {"model_name", "system",    "meta_instruction", "eosys",
                                               "user",       "eoh",       "assistant",        "eoa",
                                               "separator",  "capability"};
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    if (string_fields.count(k)) {
      LMD_CHECK(it->is_string()) << path << ": field '" << k << "' must be a string";
      const std::string v = it->get<std::string>();
      if (k == "model_name") t.model_name = v;
      else if (k == "system") t.system = v;
      else if (k == "meta_instruction") t.meta_instruction = v;
      else if (k == "eosys") t.eosys = v;
      else if (k == "user") t.user = v;
      else if (k == "eoh") t.eoh = v;
      else if (k == "assistant") t.assistant = v;
      else if (k == "eoa") t.eoa = v;
      else if (k == "separator") t.separator = v;
      else if (k == "capability") {
        LMD_CHECK(v == "chat" || v == "completion")
            << path << ": field 'capability' must be \"chat\" or \"completion\", got \"" << v << "\"";
        t.capability = v;
      }
    } else if (k == "stop_words") {
      LMD_CHECK(it->is_array()) << path << ": field 'stop_words' must be a list of strings";
      for (const auto& w : *it) {
        LMD_CHECK(w.is_string()) << path << ": field 'stop_words' must be a list of strings";
        t.stop_words.push_back(w.get<std::string>());
      }
    } else if (k == "session_len") {
      LMD_CHECK(it->is_number_integer() && it->get<int64_t>() > 0)
          << path << ": field 'session_len' must be a positive integer";
      t.session_len = it->get<int>();
    } else {
      LMD_FAIL() << path << ": unknown chat template field '" << k << "'";
    }
  }
  return t;
}

std::string resolve_template_name(const std::string& model_name, const std::string& jinja) {
  if (!model_name.empty() && has_template(model_name)) return model_name;
  if (jinja.find("<|im_start|>") != std::string::npos) {
    if (jinja.find("SmolLM") != std::string::npos) return "smollm2";
    return "qwen-7b";
  }
  if (jinja.find("[INST]") != std::string::npos) return "llama2";
  if (jinja.find("<|User|>") != std::string::npos) return "internlm-chat-7b";
  return "base";
}

}  // namespace lmd
