// The n engine requests behind one HTTP generation request, drained as one event stream.
// With n == 1 the caller's thread reads the engine stream directly; with n > 1 one thread
// per choice forwards its chunks into a shared queue (OutputStream::next blocks).
// Destroying the job cancels every unfinished stream (a client that went away frees its
// KV), records each choice's latency in ServerMetrics, and releases the concurrency slot.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "lmdeploy/engine.h"
#include "serve/server_metrics.h"

namespace lmd::serve {

struct ChoiceEvent {
  int index = 0;
  GenerationOutput out;
};

class GenerationJob {
 public:
  // Submits every request. `metrics.in_flight` was already incremented by the caller and is
  // decremented when the job is destroyed.
  GenerationJob(Engine& engine, ServerMetrics& metrics, std::vector<Request> requests);
  ~GenerationJob();
  GenerationJob(const GenerationJob&) = delete;
  GenerationJob& operator=(const GenerationJob&) = delete;

  // The next chunk of any choice; nullopt once every choice has finished.
  std::optional<ChoiceEvent> next();
  void cancel();
  // Gives back the --max-concurrent-requests slot (idempotent; also done on destruction).
  // Called once the last chunk was read, before the final bytes go to the client.
  void release_slot() {
    if (!slot_released_.exchange(true)) --metrics_.in_flight;
  }
  int size() const { return static_cast<int>(choices_.size()); }

 private:
  struct Choice {
    std::shared_ptr<OutputStream> stream;
    std::chrono::steady_clock::time_point first_token, last_token;
    int tokens = 0;
    bool finished = false;
  };
  void observe(int index, const GenerationOutput& out);
  void forward(int index);

  ServerMetrics& metrics_;
  std::chrono::steady_clock::time_point start_;
  std::vector<Choice> choices_;
  int finished_ = 0;
  std::atomic<bool> slot_released_{false};

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ChoiceEvent> queue_;  // n > 1 only
  int forwarders_done_ = 0;
  std::vector<std::thread> threads_;
};

}  // namespace lmd::serve
