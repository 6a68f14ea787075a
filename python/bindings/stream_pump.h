// An OutputStream the Python thread can wait on interruptibly.
//
// lmd::OutputStream::next() blocks without a timeout, so a Python thread waiting in it could
// never notice Ctrl-C. StreamPump moves that blocking wait to a helper thread, which forwards
// every chunk into a queue of its own; the Python thread waits on that queue in short slices
// (GIL released) and checks for signals between slices (GIL held). The helper ends when the
// stream ends: after its last chunk, which cancel() or the engine's destruction guarantee.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "lmdeploy/engine.h"

namespace lmd::python {

class StreamPump {
 public:
  explicit StreamPump(std::shared_ptr<OutputStream> stream);
  // Cancels the request if it is still running, then waits for the helper thread (which
  // ends at the engine's next step boundary). Call without the GIL.
  ~StreamPump();
  StreamPump(const StreamPump&) = delete;
  StreamPump& operator=(const StreamPump&) = delete;

  enum class Wait { kChunk, kEnd, kTimeout };
  // Waits up to `timeout` for the next chunk; kEnd after the last one was returned.
  Wait next_for(std::chrono::milliseconds timeout, GenerationOutput* out);
  void cancel() { stream_->cancel(); }
  bool ended() const;

 private:
  void run();

  std::shared_ptr<OutputStream> stream_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<GenerationOutput> chunks_;
  bool producer_done_ = false;  // the helper saw the stream end
  bool consumer_done_ = false;  // the last chunk was handed out
  std::thread helper_;
};

}  // namespace lmd::python
