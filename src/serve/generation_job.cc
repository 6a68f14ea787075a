// See generation_job.h.
#include "serve/generation_job.h"

#include "core/error.h"

namespace lmd::serve {

ApiError generation_error(const GenerationOutput& out) {
  return ApiError(500, "generation failed: " + (out.error.empty() ? std::string("unknown engine error") : out.error),
                  "", "engine_error");
}

GenerationJob::GenerationJob(Engine& engine, ServerMetrics& metrics, std::vector<Request> requests,
                             int choices_per_prompt)
    : metrics_(metrics), start_(std::chrono::steady_clock::now()), choices_per_prompt_(choices_per_prompt) {
  choices_.resize(requests.size());
  try {
    LMD_CHECK_KIND(choices_per_prompt >= 1 && requests.size() % static_cast<size_t>(choices_per_prompt) == 0,
                   kInternal)
        << "GenerationJob: " << requests.size() << " requests are not a multiple of " << choices_per_prompt
        << " choices per prompt";
    for (size_t i = 0; i < requests.size(); ++i) choices_[i].stream = engine.submit(std::move(requests[i]));
  } catch (...) {
    for (auto& c : choices_) {
      if (c.stream) c.stream->cancel();
    }
    release_slot();
    throw;
  }
  if (choices_.size() > 1) {
    for (size_t i = 0; i < choices_.size(); ++i) threads_.emplace_back([this, i] { forward(static_cast<int>(i)); });
  }
}

GenerationJob::~GenerationJob() {
  cancel();
  for (auto& t : threads_) t.join();
  // Choices that never reported a final chunk (the client left) still count as requests.
  for (auto& c : choices_) {
    if (!c.finished) {
      GenerationOutput gone;
      gone.finish_reason = "cancelled";
      observe(static_cast<int>(&c - choices_.data()), gone);
    }
  }
  release_slot();
}

void GenerationJob::cancel() {
  for (auto& c : choices_) {
    if (c.stream && !c.finished) c.stream->cancel();
  }
}

void GenerationJob::forward(int index) {
  auto& stream = choices_[index].stream;
  bool saw_final = false;
  while (auto out = stream->next()) {
    saw_final = saw_final || !out->finish_reason.empty();
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back({index, std::move(*out)});
    cv_.notify_all();
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (!saw_final) {
    ChoiceEvent ev;
    ev.index = index;
    ev.out.finish_reason = "error";
    ev.out.error = "the engine ended the stream without a finish reason";
    queue_.push_back(std::move(ev));
  }
  ++forwarders_done_;
  cv_.notify_all();
}

void GenerationJob::observe(int index, const GenerationOutput& out) {
  Choice& c = choices_[index];
  if (c.finished) return;
  auto now = std::chrono::steady_clock::now();
  if (!out.token_ids.empty()) {
    if (c.tokens == 0) c.first_token = now;
    c.last_token = now;
    c.tokens += static_cast<int>(out.token_ids.size());
  }
  if (out.finish_reason.empty()) return;
  c.finished = true;
  c.usage = out.usage;
  ++finished_;
  using secs = std::chrono::duration<double>;
  double ttft = secs(c.first_token - start_).count();
  double tpot = c.tokens > 1 ? secs(c.last_token - c.first_token).count() / (c.tokens - 1) : 0.0;
  metrics_.record_request(ttft, tpot, c.tokens, secs(now - start_).count(), out.usage, out.finish_reason);
}

std::optional<ChoiceEvent> GenerationJob::next() {
  if (finished_ == size()) return std::nullopt;
  ChoiceEvent ev;
  if (choices_.size() == 1) {
    auto out = choices_[0].stream->next();
    if (!out) {
      out.emplace();
      out->finish_reason = "error";
      out->error = "the engine ended the stream without a finish reason";
    }
    ev.out = std::move(*out);
  } else {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !queue_.empty() || forwarders_done_ == size(); });
    if (queue_.empty()) return std::nullopt;
    ev = std::move(queue_.front());
    queue_.pop_front();
  }
  observe(ev.index, ev.out);
  if (finished_ == size()) release_slot();
  return ev;
}

std::vector<ChoiceOutput> GenerationJob::collect() {
  std::vector<ChoiceOutput> choices(choices_.size());
  while (auto ev = next()) {
    if (ev->out.finish_reason == "error") throw generation_error(ev->out);
    ChoiceOutput& c = choices[ev->index];
    c.text += ev->out.text;
    c.token_ids.insert(c.token_ids.end(), ev->out.token_ids.begin(), ev->out.token_ids.end());
    c.logprobs.insert(c.logprobs.end(), ev->out.logprobs.begin(), ev->out.logprobs.end());
    if (!ev->out.finish_reason.empty()) c.finish_reason = ev->out.finish_reason;
  }
  return choices;
}

Usage GenerationJob::usage() const {
  Usage u;
  for (size_t i = 0; i < choices_.size(); ++i) {
    if (i % static_cast<size_t>(choices_per_prompt_) == 0) u.prompt_tokens += choices_[i].usage.prompt_tokens;
    u.completion_tokens += choices_[i].usage.completion_tokens;
  }
  return u;
}

}  // namespace lmd::serve
