// One multi-turn conversation over an Engine session, used by `lmdeploy chat` (the I/O stays
// in the CLI). It submits only what the session's KV does not hold yet, and stops at the chat
// template's stop words and eos.
//
//   registry template  each question rendered alone (get_prompt: the system part only on the
//                      first turn), as lmdeploy v0.1 did;
//   Jinja template     the whole conversation rendered each turn (transformers' way), and only
//                      its new suffix submitted when the KV's text (the earlier prompts, the
//                      answers and the stop tokens that ended them) is a prefix of it; otherwise
//                      (a template that rewrites history, an answer cut by a stop string) the
//                      whole conversation is submitted afresh, so the prompt is always exact.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "lmdeploy/engine.h"
#include "template/chat_formatter.h"

namespace lmd {

class ChatSession {
 public:
  // `formatter` must outlive the session (the engine's: engine.chat_formatter()).
  ChatSession(Engine& engine, const ChatFormatter& formatter, int64_t session_id, GenerationConfig gen);

  // The text the next ask() submits for `question`.
  std::string prompt_for(const std::string& question) const;
  // Streams the answer through `on_text`; returns the merged output (finish_reason
  // "error" with the message when the engine refused, e.g. the session is full).
  GenerationOutput ask(const std::string& question, const std::function<void(const std::string&)>& on_text);
  // Forgets the conversation (frees its KV); the next ask() starts afresh.
  void end();
  int turns() const { return turns_; }
  // Whether the last ask() submitted the whole conversation again although turns() > 0.
  bool last_resent() const { return last_resent_; }

 private:
  struct Submission {
    std::string text;
    bool sequence_start = true;
  };
  Submission next_submission(const std::string& question) const;
  // The stop word whose token is `id`, "" when none (the KV's text is then unknown).
  std::string stop_word_of(int32_t id) const;

  Engine& engine_;
  const ChatFormatter& formatter_;
  int64_t session_id_;
  GenerationConfig gen_;
  int turns_ = 0;
  bool last_resent_ = false;
  // Jinja: the conversation so far, and the text the session's KV holds (kv_known_ false
  // when it cannot be told, e.g. after a stop string: the next turn re-submits everything).
  nlohmann::ordered_json messages_ = nlohmann::ordered_json::array();
  std::string kv_text_;
  bool kv_known_ = true;
};

}  // namespace lmd
