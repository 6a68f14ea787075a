#include "stream_pump.h"

namespace lmd::python {

StreamPump::StreamPump(std::shared_ptr<OutputStream> stream) : stream_(std::move(stream)) {
  helper_ = std::thread([this] { run(); });
}

StreamPump::~StreamPump() {
  if (!ended()) stream_->cancel();
  if (helper_.joinable()) helper_.join();
}

void StreamPump::run() {
  while (auto chunk = stream_->next()) {
    std::lock_guard<std::mutex> lock(mu_);
    chunks_.push_back(std::move(*chunk));
    cv_.notify_all();
  }
  std::lock_guard<std::mutex> lock(mu_);
  producer_done_ = true;
  cv_.notify_all();
}

StreamPump::Wait StreamPump::next_for(std::chrono::milliseconds timeout, GenerationOutput* out) {
  std::unique_lock<std::mutex> lock(mu_);
  if (consumer_done_) return Wait::kEnd;
  if (!cv_.wait_for(lock, timeout, [&] { return !chunks_.empty() || producer_done_; })) return Wait::kTimeout;
  if (chunks_.empty()) {
    consumer_done_ = true;
    return Wait::kEnd;
  }
  *out = std::move(chunks_.front());
  chunks_.pop_front();
  if (!out->finish_reason.empty()) consumer_done_ = true;
  return Wait::kChunk;
}

bool StreamPump::ended() const {
  std::lock_guard<std::mutex> lock(mu_);
  return producer_done_ || consumer_done_;
}

}  // namespace lmd::python
