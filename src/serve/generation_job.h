// The n engine requests behind one HTTP generation request, drained as one event stream.
// With n == 1 the caller's thread reads the engine stream directly; with n > 1 one thread
// per choice forwards its chunks into a shared queue (OutputStream::next blocks).
// Destroying the job cancels every unfinished stream (a client that went away frees its
// KV), records each choice's latency in ServerMetrics, and releases the concurrency slot
// (given back earlier, as soon as the last chunk was read).
//
// Every generation route reads its job one of two ways: collect() for a JSON answer, or
// stream_job() (stream_response.h) for a chunked one.
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
#include "serve/api_error.h"
#include "serve/openai_protocol.h"
#include "serve/server_metrics.h"

namespace lmd::serve {

struct ChoiceEvent {
  int index = 0;
  GenerationOutput out;
};

// The 500 a route answers when a choice ends with finish_reason "error".
ApiError generation_error(const GenerationOutput& out);

class GenerationJob {
 public:
  // Submits every request. `metrics.in_flight` was already incremented by the caller and is
  // decremented once the last chunk was read (or when the job is destroyed).
  // `choices_per_prompt`: requests [k*n, (k+1)*n) share one prompt (the n of the OpenAI
  // routes); usage() counts that prompt once, as OpenAI does.
  GenerationJob(Engine& engine, ServerMetrics& metrics, std::vector<Request> requests, int choices_per_prompt = 1);
  ~GenerationJob();
  GenerationJob(const GenerationJob&) = delete;
  GenerationJob& operator=(const GenerationJob&) = delete;

  // The next chunk of any choice; nullopt once every choice has finished.
  std::optional<ChoiceEvent> next();
  // Reads every chunk: each choice's text, token ids, logprobs and finish reason. Throws
  // generation_error() when a choice ends in error.
  std::vector<ChoiceOutput> collect();
  // Tokens of the choices finished so far: completion tokens of each, prompt tokens once per
  // prompt (see the constructor).
  Usage usage() const;
  void cancel();
  // Gives back the --max-concurrent-requests slot (idempotent). next() calls it once the
  // last chunk was read, so it is free before the final bytes go to the client.
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
    Usage usage;  // of the final chunk
  };
  void observe(int index, const GenerationOutput& out);
  void forward(int index);

  ServerMetrics& metrics_;
  std::chrono::steady_clock::time_point start_;
  std::vector<Choice> choices_;
  int choices_per_prompt_ = 1;
  int finished_ = 0;
  std::atomic<bool> slot_released_{false};

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ChoiceEvent> queue_;  // n > 1 only
  int forwarders_done_ = 0;
  std::vector<std::thread> threads_;
};

}  // namespace lmd::serve
