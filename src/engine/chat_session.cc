#include "engine/chat_session.h"

#include <algorithm>

namespace lmd {

using ojson = nlohmann::ordered_json;

ChatSession::ChatSession(Engine& engine, const ChatFormatter& formatter, int64_t session_id, GenerationConfig gen)
    : engine_(engine), formatter_(formatter), session_id_(session_id), gen_(std::move(gen)) {
  // Stop words that are single tokens stop on the id (exact, and the KV history keeps the
  // token the template expects); the others are matched on text.
  for (const auto& w : formatter_.stop_words()) {
    const int32_t id = engine_.token_id(w);
    if (id >= 0) {
      if (std::find(gen_.stop_token_ids.begin(), gen_.stop_token_ids.end(), id) == gen_.stop_token_ids.end())
        gen_.stop_token_ids.push_back(id);
    } else if (std::find(gen_.stop_strings.begin(), gen_.stop_strings.end(), w) == gen_.stop_strings.end()) {
      gen_.stop_strings.push_back(w);
    }
  }
}

ChatSession::Submission ChatSession::next_submission(const std::string& question) const {
  if (formatter_.registry_template()) return {formatter_.turn_prompt(question, turns_ == 0), turns_ == 0};
  ojson conv = messages_;
  conv.push_back({{"role", "user"}, {"content", question}});
  const std::string full = formatter_.render(conv, nullptr, /*add_generation_prompt=*/true);
  if (turns_ > 0 && kv_known_ && full.compare(0, kv_text_.size(), kv_text_) == 0)
    return {full.substr(kv_text_.size()), false};
  return {full, true};
}

std::string ChatSession::prompt_for(const std::string& question) const { return next_submission(question).text; }

std::string ChatSession::stop_word_of(int32_t id) const {
  for (const auto& w : formatter_.stop_words()) {
    if (engine_.token_id(w) == id) return w;
  }
  return "";
}

GenerationOutput ChatSession::ask(const std::string& question,
                                  const std::function<void(const std::string&)>& on_text) {
  const Submission sub = next_submission(question);
  last_resent_ = turns_ > 0 && sub.sequence_start;
  if (sub.sequence_start) kv_text_.clear();
  Request r;
  r.session_id = session_id_;
  r.sequence_start = sub.sequence_start;
  r.sequence_end = false;
  r.prompt_ids = engine_.encode(sub.text, /*add_bos=*/sub.sequence_start && formatter_.add_bos());
  r.gen = gen_;
  auto stream = engine_.submit(std::move(r));
  GenerationOutput all;
  while (auto c = stream->next()) {
    if (!c->text.empty() && on_text) on_text(c->text);
    all.token_ids.insert(all.token_ids.end(), c->token_ids.begin(), c->token_ids.end());
    all.text += c->text;
    all.finish_reason = c->finish_reason;
    all.error = c->error;
    all.usage = c->usage;
    if (c->stop_token >= 0) all.stop_token = c->stop_token;
  }
  if (all.finish_reason == "error") {  // the engine dropped the session: the next turn starts afresh
    turns_ = 0;
    messages_ = ojson::array();
    kv_text_.clear();
    kv_known_ = true;
    return all;
  }
  ++turns_;
  if (!formatter_.registry_template()) {
    messages_.push_back({{"role", "user"}, {"content", question}});
    messages_.push_back({{"role", "assistant"}, {"content", all.text}});
    // The KV now holds the prompt, the answer's tokens and the stop token (if one ended it).
    // A stop string's text is in the KV but not in the answer: unknown, re-submit next turn.
    kv_text_ += sub.text + all.text;
    if (all.stop_token >= 0) {
      const std::string w = stop_word_of(all.stop_token);
      kv_known_ = !w.empty();
      kv_text_ += w;
    } else {
      kv_known_ = all.finish_reason == "length";
    }
  }
  return all;
}

void ChatSession::end() {
  engine_.end_session(session_id_);
  turns_ = 0;
  messages_ = ojson::array();
  kv_text_.clear();
  kv_known_ = true;
}

}  // namespace lmd
