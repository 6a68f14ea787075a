// The engine side of an OutputStream: the engine thread pushes chunks, the caller's thread
// blocks in next(). The only state shared between them (mutex + condvar).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>

#include "lmdeploy/engine.h"

namespace lmd {

class StreamImpl : public OutputStream {
 public:
  // `wake` nudges the engine thread (so a cancel is noticed while it sleeps).
  explicit StreamImpl(std::function<void()> wake) : wake_(std::move(wake)) {}

  std::optional<GenerationOutput> next() override;
  void cancel() override;

  // Engine thread only.
  void push(GenerationOutput chunk);
  bool cancel_requested() const { return cancel_.load(std::memory_order_relaxed); }
  bool finished() const { return finished_pushed_; }

 private:
  std::function<void()> wake_;
  std::atomic<bool> cancel_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<GenerationOutput> chunks_;
  bool finished_pushed_ = false;   // engine thread's view
  bool finished_returned_ = false;  // consumer's view
};

}  // namespace lmd
