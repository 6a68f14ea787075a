// One multi-turn conversation over an Engine session: renders each question with the chat
// template (system part only on the first turn), submits only the new tokens (the
// session's KV keeps the earlier turns), stops at the template's stop words and eos.
// Used by `lmdeploy chat`; the I/O stays in the CLI.
#pragma once

#include <functional>
#include <string>

#include "lmdeploy/engine.h"
#include "template/chat_template.h"

namespace lmd {

class ChatSession {
 public:
  ChatSession(Engine& engine, ChatTemplate tpl, int64_t session_id, GenerationConfig gen);

  // The text the next ask() submits for `question`.
  std::string prompt_for(const std::string& question) const;
  // Streams the answer through `on_text`; returns the merged output (finish_reason
  // "error" with the message when the engine refused, e.g. the session is full).
  GenerationOutput ask(const std::string& question, const std::function<void(const std::string&)>& on_text);
  // Forgets the conversation (frees its KV); the next ask() starts afresh.
  void end();
  int turns() const { return turns_; }

 private:
  Engine& engine_;
  ChatTemplate tpl_;
  int64_t session_id_;
  GenerationConfig gen_;
  int turns_ = 0;
};

}  // namespace lmd
