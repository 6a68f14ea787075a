#include "loader/chat_template_resolver.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/logging.h"
#include "core/error.h"
#include "format/gguf.h"
#include "template/chat_template.h"

namespace lmd {
namespace {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  LMD_CHECK_KIND(in.good(), kNotFound) << path << ": cannot open";
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

ojson read_json_file(const std::string& path) {
  try {
    return ojson::parse(read_text(path));
  } catch (const ojson::exception& e) {
    throw Error(path + ": invalid JSON: " + e.what());
  }
}

bool is_gguf(const std::string& path) { return fs::is_regular_file(path) && fs::path(path).extension() == ".gguf"; }

// tokenizer_config.json's chat_template: a string, or a list of {name, template}.
std::string hf_config_template(const ojson& config, const std::string& file) {
  const auto it = config.find("chat_template");
  if (it == config.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  LMD_CHECK(it->is_array()) << file << ": chat_template must be a string or a list of {name, template}";
  for (const auto& entry : *it) {
    if (entry.is_object() && entry.value("name", "") == "default" && entry.contains("template") &&
        entry["template"].is_string())
      return entry["template"].get<std::string>();
  }
  throw Error(file + ": the chat_template list has no 'default' entry", Error::Kind::kInvalidArgument);
}

// A special token's text in tokenizer_config.json: a string or an AddedToken {"content": ...}.
bool token_text(const ojson& v, std::string* out) {
  if (v.is_string()) {
    *out = v.get<std::string>();
    return true;
  }
  if (v.is_object() && v.contains("content") && v["content"].is_string()) {
    *out = v["content"].get<std::string>();
    return true;
  }
  return false;
}

// End-of-turn tokens of common templates (llama.cpp lists the same ones): a Jinja model stops
// at those its template writes and its vocabulary has, besides its EOS.
const char* const kEndOfTurnTokens[] = {"<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
                                        "<|end_of_text|>", "<｜end▁of▁sentence｜>", "<|eom_id|>", "</s>"};

void add_unique(std::vector<std::string>& v, const std::string& s) {
  if (!s.empty() && std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
}

std::vector<std::string> jinja_stop_words(const std::string& model_path, const std::string& template_text,
                                          const ojson& special, const Tokenizer& tok) {
  std::vector<std::string> stops;
  if (special.contains("eos_token")) add_unique(stops, special["eos_token"].get<std::string>());
  if (tok.eos_id() >= 0) add_unique(stops, tok.id_to_piece(tok.eos_id()));
  if (is_gguf(model_path)) {
    const auto f = gguf::GgufFile::open(model_path);
    for (const char* key : {"tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"}) {
      const int64_t id = f->get_int_or(key, -1);
      if (id >= 0 && id < tok.vocab_size()) add_unique(stops, tok.id_to_piece(static_cast<int32_t>(id)));
    }
  } else if (fs::exists(fs::path(model_path) / "generation_config.json")) {
    // generation_config.json's eos_token_id: an id or a list of ids (Llama 3: <|eot_id|> too).
    const ojson g = read_json_file((fs::path(model_path) / "generation_config.json").string());
    const auto it = g.find("eos_token_id");
    if (it != g.end()) {
      const ojson ids = it->is_array() ? *it : ojson::array({*it});
      for (const auto& id : ids) {
        if (id.is_number_integer() && id.get<int64_t>() >= 0 && id.get<int64_t>() < tok.vocab_size())
          add_unique(stops, tok.id_to_piece(id.get<int32_t>()));
      }
    }
  }
  for (const char* t : kEndOfTurnTokens) {
    if (template_text.find(t) != std::string::npos && tok.token_to_id(t) >= 0) add_unique(stops, t);
  }
  return stops;
}

std::shared_ptr<const ChatFormatter> jinja_formatter(const std::string& text, const std::string& source,
                                                     const std::string& model_path, const Tokenizer& tok) {
  ojson special = model_special_tokens(model_path, tok);
  std::vector<std::string> stops = jinja_stop_words(model_path, text, special, tok);
  return make_jinja_formatter(text, source, std::move(special), std::move(stops));
}

// --chat-template FILE|NAME.
std::shared_ptr<const ChatFormatter> formatter_from_flag(const std::string& flag, const std::string& model_path,
                                                         const Tokenizer& tok) {
  if (!fs::is_regular_file(flag)) {
    LMD_CHECK_KIND(has_template(flag), kNotFound)
        << "--chat-template " << flag << ": neither a file nor a known template name (known: "
        << [] {
             std::string s;
             for (const auto& n : template_names()) s += (s.empty() ? "" : ", ") + n;
             return s;
           }()
        << ")";
    return make_registry_formatter(get_template(flag), "--chat-template " + flag);
  }
  const std::string text = read_text(flag);
  const bool json_file = fs::path(flag).extension() == ".json";
  if (json_file) return make_registry_formatter(load_template_json(flag), "--chat-template " + flag);
  return jinja_formatter(text, flag, model_path, tok);
}

}  // namespace

std::string model_chat_template(const std::string& path) {
  if (is_gguf(path)) return gguf::GgufFile::open(path)->get_string_or("tokenizer.chat_template", "");
  if (!fs::is_directory(path)) return "";
  const fs::path config = fs::path(path) / "tokenizer_config.json";
  if (fs::exists(config)) {
    const std::string t = hf_config_template(read_json_file(config.string()), config.string());
    if (!t.empty()) return t;
  }
  const fs::path jinja = fs::path(path) / "chat_template.jinja";
  return fs::exists(jinja) ? read_text(jinja.string()) : "";
}

ojson model_special_tokens(const std::string& model_path, const Tokenizer& tok) {
  ojson out = ojson::object();
  const fs::path config = fs::path(model_path) / "tokenizer_config.json";
  if (fs::is_directory(model_path) && fs::exists(config)) {
    const ojson c = read_json_file(config.string());
    for (const char* key : {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token",
                            "mask_token"}) {
      std::string text;
      if (c.contains(key) && token_text(c[key], &text)) out[key] = text;
    }
    if (c.contains("additional_special_tokens") && c["additional_special_tokens"].is_array()) {
      ojson extra = ojson::array();
      for (const auto& v : c["additional_special_tokens"]) {
        std::string text;
        if (token_text(v, &text)) extra.push_back(text);
      }
      out["additional_special_tokens"] = extra;
    }
    return out;
  }
  if (is_gguf(model_path)) {
    const auto f = gguf::GgufFile::open(model_path);
    const std::pair<const char*, const char*> keys[] = {
        {"bos_token", "tokenizer.ggml.bos_token_id"},     {"eos_token", "tokenizer.ggml.eos_token_id"},
        {"unk_token", "tokenizer.ggml.unknown_token_id"}, {"sep_token", "tokenizer.ggml.seperator_token_id"},
        {"pad_token", "tokenizer.ggml.padding_token_id"}, {"cls_token", "tokenizer.ggml.cls_token_id"},
        {"mask_token", "tokenizer.ggml.mask_token_id"}};
    for (const auto& [name, key] : keys) {
      const int64_t id = f->get_int_or(key, -1);
      if (id >= 0 && id < tok.vocab_size()) out[name] = tok.id_to_piece(static_cast<int32_t>(id));
    }
    return out;
  }
  if (tok.bos_id() >= 0) out["bos_token"] = tok.id_to_piece(tok.bos_id());
  if (tok.eos_id() >= 0) out["eos_token"] = tok.id_to_piece(tok.eos_id());
  return out;
}

std::shared_ptr<const ChatFormatter> resolve_chat_formatter(const std::string& model_path,
                                                            const std::string& chat_template_flag,
                                                            const std::string& registry_name,
                                                            const Tokenizer& tokenizer) {
  std::shared_ptr<const ChatFormatter> f;
  if (!chat_template_flag.empty()) {
    f = formatter_from_flag(chat_template_flag, model_path, tokenizer);
  } else if (const std::string text = model_chat_template(model_path); !text.empty()) {
    f = jinja_formatter(text, model_path + " (chat_template)", model_path, tokenizer);
  } else {
    const std::string name = has_template(registry_name) ? registry_name : "base";
    f = make_registry_formatter(get_template(name), "registry '" + name + "'");
  }
  std::string stops;
  for (const auto& w : f->stop_words()) stops += (stops.empty() ? "" : " ") + w;
  LMD_LOG_INFO("chat template: {} ({}), stop words: {}", f->describe(), f->kind(), stops.empty() ? "-" : stops);
  return f;
}

}  // namespace lmd
