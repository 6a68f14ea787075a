// Interactive sessions the api_server keeps (POST /v1/chat/interactive): which session ids
// hold KV in the engine, how many tokens of history each has, and whether a turn is
// running. Also hands out engine session ids for one-shot requests, from a range users do
// not type (>= 2^40), so they never collide with an interactive session.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <unordered_map>

namespace lmd::serve {

class SessionRegistry {
 public:
  static constexpr int64_t kAutoIdBase = int64_t(1) << 40;

  int64_t next_auto_id() { return next_auto_++; }

  // Starts a turn: false when the session already runs one. *history gets its token count
  // (0: the session starts afresh).
  bool begin_turn(int64_t id, int* history) {
    std::lock_guard<std::mutex> lock(mu_);
    auto& s = sessions_[id];
    if (s.busy) return false;
    s.busy = true;
    *history = s.history_tokens;
    return true;
  }
  // Ends a turn; keep=false forgets the session.
  void end_turn(int64_t id, int new_history, bool keep) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!keep) {
      sessions_.erase(id);
      return;
    }
    auto& s = sessions_[id];
    s.busy = false;
    s.history_tokens = new_history;
  }
  bool forget(int64_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sessions_.find(id);
    if (it == sessions_.end() || it->second.busy) return it == sessions_.end();
    sessions_.erase(it);
    return true;
  }
  size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return sessions_.size();
  }

 private:
  struct Session {
    bool busy = false;
    int history_tokens = 0;
  };
  mutable std::mutex mu_;
  std::unordered_map<int64_t, Session> sessions_;
  std::atomic<int64_t> next_auto_{kAutoIdBase};
};

}  // namespace lmd::serve
