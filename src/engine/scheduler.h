// The engine's scheduler: which sequences run in the next step, with how many tokens, on
// which KV blocks. Owned by the engine thread: no locks.
//
// It owns the two queues (waiting and running, each in arrival order) of entries that name a
// request by its arrival number and point at its Sequence (tokens, kv_len, block table).
// schedule() plans one step and returns the plan with every decision it took (admitted,
// preempted, failed) as plain data; it knows nothing of requests, streams, samplers or
// counters — the engine applies the decisions (plan-then-commit, as TurboMind's
// SequenceManager::Materialize and llama.cpp's batch preparation). What it does change is
// the KV book-keeping, because whether a sequence fits depends on what the ones before it
// took: it locks, reserves, unlocks (preemption) and drops (failure) sequences through the
// SequenceManager. After the step the engine commits the computed KV (SequenceManager::commit).
//
// The policy, step by step (what the engine has always done):
//   budget   the step's prefill budget is max_prefill_token_num, or
//            min(max_prefill_token_num, max_prefill_token_num_decoding) when that is > 0 and
//            a running sequence decodes this step (exactly one token left to compute), so a
//            long prompt is prefilled in chunks beside the decoding rows instead of stalling
//            them. Decode tokens never count against the budget.
//   1. running sequences, oldest first: a decoding one gets its 1 token whatever the budget
//      (decode rows are never starved by a prefill); a prefilling one gets
//      min(tokens left, budget left) and spends that much budget (none left: it sits this
//      step out). Blocks are reserved for those positions. When the pool is short the
//      youngest running sequence is preempted (blocks unlocked to CACHED, tokens kept, back to
//      the waiting queue in arrival order), repeatedly, until the sequence fits; when it is
//      itself the youngest and still short it is preempted too (it waits for the older ones).
//      The oldest sequence alone in the batch and still short fails: the pool is too small.
//   2. waiting requests, oldest first (FCFS, which includes sequences just preempted), are
//      admitted while fewer than max_batch_size run and budget is left: the sequence is
//      locked first (a fresh one takes a shared prefix from the prefix cache, a resumed
//      session takes back the KV that survived), then gets its tokens like in 1. Admission
//      never preempts: the first one that does not fit stops admission for this step, or
//      fails when nothing is running (even its first chunk cannot fit the whole pool).
//   3. the plan lists the sequences in the order chosen (running ones first); a sequence
//      needs logits when this step reaches its last token.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "core/step_plan.h"
#include "kv/sequence_manager.h"

namespace lmd {

// Resolved and validated by the engine (EngineConfig, defaults from the model).
struct SchedulerConfig {
  int max_batch_size = 1;                  // sequences running at once (> 0)
  int max_prefill_token_num = 1;           // prefill tokens per step (> 0)
  int max_prefill_token_num_decoding = 0;  // that budget while a sequence decodes; 0 = no cap
};

// A request in a queue: its arrival number (unique, larger = younger) and its sequence,
// which the caller owns and keeps alive while the entry is queued.
struct SchedulerEntry {
  uint64_t arrival = 0;
  Sequence* seq = nullptr;
};

// A waiting request moved to the running queue this step.
struct Admission {
  uint64_t arrival = 0;
  bool resumed = false;   // took back its own session KV (false: fresh, prefix lookup)
  int kv_len_at_lock = 0;  // tokens of KV it started with (surviving session KV or prefix hit)
};

// A running sequence sent back to the waiting queue.
struct Preemption {
  uint64_t arrival = 0;
  uint64_t for_arrival = 0;  // the sequence that needed the blocks (== arrival: it was the
                             // youngest and did not fit, so it waits for older ones)
  int blocks_released = 0;   // blocks unlocked (ACTIVE -> CACHED unless shared)
};

// A request that can never run: its KV is dropped, the engine ends it with `message`.
struct SchedulingFailure {
  uint64_t arrival = 0;
  std::string message;
};

struct StepDecisions {
  StepPlan plan;
  std::vector<uint64_t> planned;  // arrival of each plan.seqs entry, same order
  std::vector<Admission> admitted;
  std::vector<Preemption> preempted;  // in the order taken
  std::vector<SchedulingFailure> failed;
  int prefill_budget = 0;  // the step's budget before any chunk was granted
};

class Scheduler {
 public:
  Scheduler(SequenceManager& seqs, const SchedulerConfig& cfg);
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a request as waiting, in arrival order.
  void add_waiting(uint64_t arrival, Sequence* seq);
  // Forgets the request wherever it is queued (no-op when it is not). Its KV is the caller's.
  void remove(uint64_t arrival);

  // Plans the next step (an empty plan when nothing can run).
  StepDecisions schedule();

  const std::vector<SchedulerEntry>& running() const { return running_; }  // oldest first
  const std::deque<SchedulerEntry>& waiting() const { return waiting_; }   // oldest first
  bool empty() const { return running_.empty() && waiting_.empty(); }
  const SchedulerConfig& config() const { return cfg_; }

 private:
  int step_budget() const;
  // Tokens `seq` would compute this step with `budget` prefill tokens left.
  static int tokens_this_step(const Sequence& seq, int budget);
  void preempt(size_t running_index, uint64_t for_arrival, StepDecisions* d);
  void fail(const SchedulerEntry& e, std::string message, StepDecisions* d);

  SequenceManager& seqs_;
  SchedulerConfig cfg_;
  std::vector<SchedulerEntry> running_;  // oldest first
  std::deque<SchedulerEntry> waiting_;   // oldest first
};

}  // namespace lmd
