#include "template/chat_formatter.h"

#include "core/error.h"

namespace lmd {
namespace {

using ojson = nlohmann::ordered_json;

class JinjaChatFormatter : public ChatFormatter {
 public:
  JinjaChatFormatter(JinjaTemplate tpl, std::string source, ojson special_tokens, std::vector<std::string> stops)
      : tpl_(std::move(tpl)),
        source_(std::move(source)),
        special_tokens_(std::move(special_tokens)),
        stop_words_(std::move(stops)) {}

  // The context transformers' apply_chat_template builds: messages, tools (only when given,
  // as `lmdeploy template render` and the goldens do), add_generation_prompt, the special
  // tokens, then the caller's extra variables.
  std::string render(const ojson& messages, const ojson& tools, bool add_generation_prompt,
                     const ojson& extra) const override {
    LMD_CHECK(messages.is_array()) << "chat template " << source_ << ": messages must be a list";
    ojson ctx = ojson::object();
    ctx["messages"] = messages;
    if (!tools.is_null()) ctx["tools"] = tools;
    ctx["add_generation_prompt"] = add_generation_prompt;
    for (auto it = special_tokens_.begin(); it != special_tokens_.end(); ++it) ctx[it.key()] = it.value();
    if (extra.is_object()) {
      for (auto it = extra.begin(); it != extra.end(); ++it) ctx[it.key()] = it.value();
    }
    return tpl_.render(ctx);
  }

  // The suffix the template adds for one more user turn after an answer, cut after the stop
  // word that ended that answer (the KV holds the answer and its stop token).
  std::string turn_prompt(const std::string& question, bool sequence_start) const override {
    const ojson user = {{"role", "user"}, {"content", question}};
    if (sequence_start) return render(ojson::array({user}), nullptr, true, nullptr);
    const std::string answer = "\x1f" "lmdeploy-answer" "\x1f";
    const ojson conv = ojson::array({{{"role", "user"}, {"content", "\x1f"}},
                                     {{"role", "assistant"}, {"content", answer}}, user});
    const std::string full = render(conv, nullptr, true, nullptr);
    const size_t at = full.find(answer);
    LMD_CHECK(at != std::string::npos) << "chat template " << source_
                                       << ": does not render an assistant message's content; cannot continue a session";
    size_t pos = at + answer.size();
    for (const auto& w : stop_words_) {
      if (!w.empty() && full.compare(pos, w.size(), w) == 0) {
        pos += w.size();
        break;
      }
    }
    return full.substr(pos);
  }

  const std::vector<std::string>& stop_words() const override { return stop_words_; }
  bool add_bos() const override { return false; }
  const char* kind() const override { return "jinja"; }
  const std::string& describe() const override { return source_; }

 private:
  JinjaTemplate tpl_;
  std::string source_;
  ojson special_tokens_;
  std::vector<std::string> stop_words_;
};

class RegistryChatFormatter : public ChatFormatter {
 public:
  RegistryChatFormatter(ChatTemplate tpl, std::string source) : tpl_(std::move(tpl)), source_(std::move(source)) {}

  // lmdeploy v0.1's messages2prompt: always ends with the assistant prefix; it has no tools.
  std::string render(const ojson& messages, const ojson& tools, bool /*add_generation_prompt*/,
                     const ojson& /*extra*/) const override {
    LMD_CHECK(tools.is_null() || tools.empty())
        << "tools: the chat template '" << tpl_.model_name
        << "' cannot render tools (a model's own Jinja template can; or --chat-template FILE.jinja)";
    return tpl_.messages2prompt(registry_messages(messages));
  }
  std::string turn_prompt(const std::string& question, bool sequence_start) const override {
    return tpl_.get_prompt(question, sequence_start);
  }
  const std::vector<std::string>& stop_words() const override { return tpl_.stop_words; }
  bool add_bos() const override { return true; }
  const char* kind() const override { return "registry"; }
  const std::string& describe() const override { return source_; }
  const ChatTemplate* registry_template() const override { return &tpl_; }

 private:
  ChatTemplate tpl_;
  std::string source_;
};

}  // namespace

std::vector<ChatMessage> registry_messages(const ojson& messages) {
  LMD_CHECK(messages.is_array()) << "messages must be a list";
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < messages.size(); ++i) {
    const ojson& m = messages[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    LMD_CHECK(m.is_object() && m.contains("role") && m["role"].is_string()) << where << ": needs a string 'role'";
    std::string role = m["role"].get<std::string>();
    if (role == "developer") role = "system";
    std::string text;
    const auto it = m.find("content");
    if (it != m.end() && it->is_string()) {
      text = it->get<std::string>();
    } else if (it != m.end() && it->is_array()) {
      for (const auto& part : *it) {
        LMD_CHECK(part.is_object() && part.value("type", "") == "text" && part.contains("text") &&
                  part["text"].is_string())
            << where << ".content: this chat template renders only text parts ({\"type\": \"text\", \"text\": ...})";
        text += part["text"].get<std::string>();
      }
    } else {
      LMD_CHECK(it == m.end() || it->is_null()) << where << ".content: must be a string or a list of text parts";
    }
    out.push_back({role, text});
  }
  return out;
}

std::shared_ptr<const ChatFormatter> make_jinja_formatter(const std::string& template_text, const std::string& source,
                                                          ojson special_tokens, std::vector<std::string> stop_words,
                                                          const JinjaOptions& options) {
  return std::make_shared<JinjaChatFormatter>(JinjaTemplate::parse(template_text, source, options), source,
                                              std::move(special_tokens), std::move(stop_words));
}

std::shared_ptr<const ChatFormatter> make_registry_formatter(ChatTemplate tpl, const std::string& source) {
  return std::make_shared<RegistryChatFormatter>(std::move(tpl), source);
}

}  // namespace lmd
