#include "engine/chat_session.h"

#include <algorithm>

namespace lmd {

ChatSession::ChatSession(Engine& engine, ChatTemplate tpl, int64_t session_id, GenerationConfig gen)
    : engine_(engine), tpl_(std::move(tpl)), session_id_(session_id), gen_(std::move(gen)) {
  // Stop words that are single tokens stop on the id (exact, and the KV history keeps the
  // token the template expects); the others are matched on text.
  for (const auto& w : tpl_.stop_words) {
    const int32_t id = engine_.token_id(w);
    if (id >= 0) {
      if (std::find(gen_.stop_token_ids.begin(), gen_.stop_token_ids.end(), id) == gen_.stop_token_ids.end())
        gen_.stop_token_ids.push_back(id);
    } else if (std::find(gen_.stop_strings.begin(), gen_.stop_strings.end(), w) == gen_.stop_strings.end()) {
      gen_.stop_strings.push_back(w);
    }
  }
}

std::string ChatSession::prompt_for(const std::string& question) const {
  return tpl_.get_prompt(question, /*sequence_start=*/turns_ == 0);
}

GenerationOutput ChatSession::ask(const std::string& question,
                                  const std::function<void(const std::string&)>& on_text) {
  Request r;
  r.session_id = session_id_;
  r.sequence_start = turns_ == 0;
  r.sequence_end = false;
  r.prompt_ids = engine_.encode(prompt_for(question), /*add_bos=*/turns_ == 0);
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
  }
  // An engine error drops the session: the next turn starts afresh.
  turns_ = all.finish_reason == "error" ? 0 : turns_ + 1;
  return all;
}

void ChatSession::end() {
  engine_.end_session(session_id_);
  turns_ = 0;
}

}  // namespace lmd
