#include "engine/output_stream.h"

namespace lmd {

std::optional<GenerationOutput> StreamImpl::next() {
  std::unique_lock<std::mutex> lock(mu_);
  if (finished_returned_) return std::nullopt;
  cv_.wait(lock, [&] { return !chunks_.empty(); });
  GenerationOutput out = std::move(chunks_.front());
  chunks_.pop_front();
  if (!out.finish_reason.empty()) finished_returned_ = true;
  return out;
}

void StreamImpl::cancel() {
  if (cancel_.exchange(true)) return;
  if (wake_) wake_();
}

void StreamImpl::push(GenerationOutput chunk) {
  if (finished_pushed_) return;
  finished_pushed_ = !chunk.finish_reason.empty();
  {
    std::lock_guard<std::mutex> lock(mu_);
    chunks_.push_back(std::move(chunk));
  }
  cv_.notify_all();
}

GenerationOutput OutputStream::collect() {
  GenerationOutput all;
  while (auto c = next()) {
    all.token_ids.insert(all.token_ids.end(), c->token_ids.begin(), c->token_ids.end());
    all.text += c->text;
    all.logprobs.insert(all.logprobs.end(), c->logprobs.begin(), c->logprobs.end());
    all.finish_reason = c->finish_reason;
    all.error = c->error;
    all.usage = c->usage;
  }
  return all;
}

}  // namespace lmd
