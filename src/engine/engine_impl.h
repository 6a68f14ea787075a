// The engine behind lmd::Engine. The engine thread owns everything below "engine thread
// only": sessions, the scheduler's queues, the KV book-keeping and the model. Callers
// reach it only through the command queue (Inbox) and the output streams.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/incremental_text.h"
#include "core/step_plan.h"
#include "engine/output_stream.h"
#include "engine/scheduler.h"
#include "engine/text_codec.h"
#include "kv/block_manager.h"
#include "kv/sequence_manager.h"
#include "lmdeploy/engine.h"
#include "model/model.h"
#include "sampling/sampler.h"
#include "sampling/stop_strings.h"
#include "template/chat_formatter.h"

namespace lmd {

// Commands from caller threads to the engine thread.
struct Inbox {
  struct Command {
    enum Kind { kSubmit, kEndSession } kind = kSubmit;
    Request request;
    std::shared_ptr<StreamImpl> stream;
    int64_t session_id = 0;
  };
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Command> commands;
  bool wake = false;   // a stream was cancelled
  bool stop = false;   // engine shutting down
  void notify() {
    {
      std::lock_guard<std::mutex> lock(mu);
      wake = true;
    }
    cv.notify_all();
  }
};

struct Session;

// One request in flight (engine thread only).
struct ActiveRequest {
  uint64_t arrival = 0;  // arrival order (the Scheduler's key): larger = younger
  Request request;
  std::shared_ptr<StreamImpl> stream;
  Session* session = nullptr;
  std::unique_ptr<RequestSampler> sampler;
  std::unique_ptr<IncrementalText> text;
  std::unique_ptr<StopStringMatcher> stops;
  int prompt_len = 0;
  int generated = 0;
  bool first_admission = true;  // for session / prefix reuse counters
};

struct Session {
  int64_t id = 0;
  Sequence seq;
  ActiveRequest* active = nullptr;
};

class EngineImpl : public Engine {
 public:
  EngineImpl(std::unique_ptr<Model> model, std::unique_ptr<TextCodec> codec, const EngineConfig& cfg,
             std::shared_ptr<const ChatFormatter> chat_formatter);
  ~EngineImpl() override;

  std::shared_ptr<OutputStream> submit(Request request) override;
  void end_session(int64_t session_id) override;
  EngineStats stats() const override;
  const ModelInfo& info() const override { return info_; }
  std::vector<int32_t> encode(const std::string& text, bool add_bos) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  int32_t token_id(const std::string& piece) const override;
  const ChatFormatter& chat_formatter() const override { return *chat_formatter_; }

 private:
  // --- engine thread (engine.cc) ---
  void run();
  void handle(Inbox::Command& cmd);
  void handle_submit(Request request, std::shared_ptr<StreamImpl> stream);
  void handle_end_session(int64_t session_id);
  void reap_cancelled();
  // Applies the scheduler's decisions to the requests (counters, failures); returns the
  // request of each plan.seqs entry.
  std::vector<ActiveRequest*> apply(const StepDecisions& d);
  // The step's sampling rows from each request's sampler (device_sampling_ only).
  void build_sampling(const StepPlan& plan, const std::vector<ActiveRequest*>& planned);
  void process_outputs(const StepPlan& plan, const std::vector<ActiveRequest*>& planned);
  // Ends `r` (frees or caches its blocks per sequence_end) and sends the last chunk.
  void finish(ActiveRequest* r, const std::string& reason, GenerationOutput last = {});
  void fail_all(const std::string& message);
  void publish_stats();
  ActiveRequest* request(uint64_t arrival) const;

  // Fixed at construction.
  std::unique_ptr<Model> model_;
  std::unique_ptr<TextCodec> codec_;
  std::shared_ptr<const ChatFormatter> chat_formatter_;  // immutable, shared by every caller thread
  EngineConfig cfg_;
  ModelInfo info_;
  int block_len_ = 0;
  int vocab_ = 0;

  // Shared with callers.
  std::shared_ptr<Inbox> inbox_;
  mutable std::mutex stats_mu_;
  EngineStats stats_snapshot_;
  std::atomic<int64_t> next_auto_session_{-2};

  // Engine thread only.
  BlockManager blocks_;
  SequenceManager seqs_;
  std::map<int64_t, Session> sessions_;
  std::map<uint64_t, std::unique_ptr<ActiveRequest>> requests_;  // by arrival; owns them all
  Scheduler scheduler_;  // the waiting and running queues
  uint64_t arrival_clock_ = 0;
  uint64_t seed_base_ = 0;
  EngineStats counters_;
  std::vector<float> logits_;   // [logits rows, vocab]: the rows sampled on the host
  bool device_sampling_ = false;  // the model samples on its device (forward_sample)
  SamplingBatch sampling_;      // this step's rows for forward_sample

  std::thread thread_;
};

}  // namespace lmd
