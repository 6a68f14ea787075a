// A deterministic stand-in for lmd::Engine so the HTTP layer is tested without a model.
//   tokens: one per byte (id = byte + 3); 1 = bos, 2 = eos.
//   reply:  kReply, one byte per token, then eos ("stop"); max_new_tokens cuts it ("length").
//           A request with temperature > 0 and a seed starts the reply seed % 7 bytes in, so
//           the same seed gives the same text and different seeds differ.
//   stop strings are matched on the text and not output; logprobs are -0.25 * (k % 4).
// It records every Request, cancel and end_session, and reports KV blocks in use by
// running streams (2 each) so the disconnect test can watch them return to 0.
// `fail_submit` makes submit() throw (an lmd::Error of a kind, or another exception) as the
// real engine does on a request it refuses.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "lmdeploy/engine.h"
#include "template/chat_formatter.h"

namespace lmd::serve::testing {

inline const std::string kReply = "The quick brown fox jumps over the lazy dog.";

class FakeEngine : public Engine {
 public:
  // chat_formatter: the template the server renders with (default: the registry's "base").
  explicit FakeEngine(std::shared_ptr<const ChatFormatter> chat_formatter = nullptr)
      : formatter_(chat_formatter ? std::move(chat_formatter) : make_registry_formatter(get_template("base"), "fake")) {
    info_.model_name = "fake-model";
    info_.eos_id = 2;
    info_.vocab_size = 259;
    info_.session_len = 4096;
  }

  std::atomic<int> token_delay_ms{0};
  std::atomic<bool> endless{false};  // never stop on its own (for disconnect tests)
  std::function<void()> fail_submit;  // set before requests arrive; called by submit()

  std::shared_ptr<OutputStream> submit(Request request) override {
    if (fail_submit) fail_submit();
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(request);
    stats_.prefill_tokens += static_cast<int64_t>(request.prompt_ids.size());
    if (!request.sequence_start) stats_.session_reused_tokens += history_[request.session_id];
    ++running_;
    return std::make_shared<Stream>(this, std::move(request));
  }
  void end_session(int64_t session_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    ended_.push_back(session_id);
    history_.erase(session_id);
  }
  EngineStats stats() const override {
    std::lock_guard<std::mutex> lock(mu_);
    EngineStats s = stats_;
    s.running = running_;
    s.kv_blocks_total = 100;
    s.kv_blocks_active = 2 * running_;
    s.kv_blocks_free = 100 - s.kv_blocks_active;
    return s;
  }
  const ModelInfo& info() const override { return info_; }
  std::vector<int32_t> encode(const std::string& text, bool add_bos) const override {
    std::vector<int32_t> ids;
    if (add_bos) ids.push_back(1);
    for (unsigned char c : text) ids.push_back(int32_t(c) + 3);
    return ids;
  }
  std::string decode(const std::vector<int32_t>& ids) const override {
    std::string s;
    for (int32_t id : ids) {
      if (id >= 3) s += char(id - 3);
    }
    return s;
  }
  int32_t token_id(const std::string& piece) const override { return piece == "</s>" ? 2 : -1; }
  const ChatFormatter& chat_formatter() const override { return *formatter_; }

  std::vector<Request> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  std::vector<int64_t> ended() const {
    std::lock_guard<std::mutex> lock(mu_);
    return ended_;
  }
  int cancelled() const { return cancelled_; }
  int running() const {
    std::lock_guard<std::mutex> lock(mu_);
    return running_;
  }

 private:
  std::shared_ptr<const ChatFormatter> formatter_;
  class Stream : public OutputStream {
   public:
    Stream(FakeEngine* e, Request r) : e_(e), r_(std::move(r)) {
      if (r_.gen.temperature > 0 && r_.gen.seed) offset_ = *r_.gen.seed % 7;
    }
    ~Stream() override { finish(); }
    std::optional<GenerationOutput> next() override {
      if (done_) return std::nullopt;
      if (int d = e_->token_delay_ms.load()) std::this_thread::sleep_for(std::chrono::milliseconds(d));
      GenerationOutput out;
      out.usage.prompt_tokens = static_cast<int>(r_.prompt_ids.size());
      if (cancelled_) return last(out, "cancelled");
      if (generated_ >= r_.gen.max_new_tokens) return last(out, "length");
      const size_t pos = offset_ + generated_;
      if (!e_->endless && pos >= kReply.size() && !r_.gen.ignore_eos) {
        ++generated_;  // eos counts as a completion token
        return last(out, "stop");
      }
      const char c = kReply[pos % kReply.size()];
      ++generated_;
      text_ += c;
      int32_t id = int32_t(static_cast<unsigned char>(c)) + 3;
      out.token_ids.push_back(id);
      if (r_.gen.logprobs) {
        TokenLogprob lp{id, -0.25f * float(generated_ % 4), {}};
        for (int k = 0; k < r_.gen.top_logprobs; ++k) lp.top.push_back({id + k, lp.logprob - float(k)});
        out.logprobs.push_back(lp);
      }
      for (const auto& stop : r_.gen.stop_strings) {
        if (text_.size() >= stop.size() && text_.compare(text_.size() - stop.size(), stop.size(), stop) == 0) {
          // The stop string is not output: the part of it in earlier chunks was held back.
          const std::string full = pending_ + c;  // the held-back part of the stop string ends here
          out.text = full.substr(0, full.size() - std::min(stop.size(), full.size()));
          pending_.clear();
          out.token_ids.clear();
          out.logprobs.clear();
          return last(out, "stop");
        }
      }
      // Hold back text that could be the start of a stop string.
      pending_ += c;
      size_t hold = 0;
      for (const auto& stop : r_.gen.stop_strings) {
        for (size_t k = std::min(stop.size() - 1, pending_.size()); k > hold; --k) {
          if (pending_.compare(pending_.size() - k, k, stop, 0, k) == 0) hold = k;
        }
      }
      out.text = pending_.substr(0, pending_.size() - hold);
      pending_.erase(0, pending_.size() - hold);
      return out;
    }
    void cancel() override {
      if (!cancelled_.exchange(true) && !done_) ++e_->cancelled_;
    }

   private:
    GenerationOutput last(GenerationOutput& out, const char* reason) {
      out.finish_reason = reason;
      out.usage.completion_tokens = generated_;
      finish();
      return out;
    }
    void finish() {
      if (done_.exchange(true)) return;
      std::lock_guard<std::mutex> lock(e_->mu_);
      --e_->running_;
      e_->history_[r_.session_id] += static_cast<int>(r_.prompt_ids.size()) + generated_;
      ++e_->stats_.requests_finished;
    }
    FakeEngine* e_;
    Request r_;
    size_t offset_ = 0;
    int generated_ = 0;
    std::string text_, pending_;
    std::atomic<bool> cancelled_{false}, done_{false};
  };

  mutable std::mutex mu_;
  ModelInfo info_;
  EngineStats stats_;
  int running_ = 0;
  std::atomic<int> cancelled_{0};
  std::vector<Request> requests_;
  std::vector<int64_t> ended_;
  std::map<int64_t, int> history_;
};

}  // namespace lmd::serve::testing
