#include "engine/scheduler.h"

#include <algorithm>
#include <cstddef>
#include <utility>

namespace lmd {

namespace {
bool older(const SchedulerEntry& a, const SchedulerEntry& b) { return a.arrival < b.arrival; }
int tokens_left(const Sequence& seq) { return static_cast<int>(seq.tokens.size()) - seq.kv_len; }
}  // namespace

Scheduler::Scheduler(SequenceManager& seqs, const SchedulerConfig& cfg) : seqs_(seqs), cfg_(cfg) {}

void Scheduler::add_waiting(uint64_t arrival, Sequence* seq) {
  const SchedulerEntry e{arrival, seq};
  waiting_.insert(std::upper_bound(waiting_.begin(), waiting_.end(), e, older), e);
}

void Scheduler::remove(uint64_t arrival) {
  auto same = [arrival](const SchedulerEntry& e) { return e.arrival == arrival; };
  running_.erase(std::remove_if(running_.begin(), running_.end(), same), running_.end());
  waiting_.erase(std::remove_if(waiting_.begin(), waiting_.end(), same), waiting_.end());
}

int Scheduler::step_budget() const {
  int budget = cfg_.max_prefill_token_num;
  if (cfg_.max_prefill_token_num_decoding > 0) {
    const bool decoding = std::any_of(running_.begin(), running_.end(),
                                      [](const SchedulerEntry& e) { return tokens_left(*e.seq) == 1; });
    if (decoding) budget = std::min(budget, cfg_.max_prefill_token_num_decoding);
  }
  return budget;
}

int Scheduler::tokens_this_step(const Sequence& seq, int budget) {
  const int left = tokens_left(seq);
  return left == 1 ? 1 : std::min(left, budget);
}

void Scheduler::preempt(size_t running_index, uint64_t for_arrival, StepDecisions* d) {
  const SchedulerEntry e = running_[running_index];
  d->preempted.push_back({e.arrival, for_arrival, static_cast<int>(e.seq->blocks.size())});
  seqs_.unlock(*e.seq);
  running_.erase(running_.begin() + static_cast<std::ptrdiff_t>(running_index));
  add_waiting(e.arrival, e.seq);
}

void Scheduler::fail(const SchedulerEntry& e, std::string message, StepDecisions* d) {
  seqs_.drop(*e.seq);
  remove(e.arrival);
  d->failed.push_back({e.arrival, std::move(message)});
}

StepDecisions Scheduler::schedule() {
  StepDecisions d;
  int budget = d.prefill_budget = step_budget();
  std::vector<std::pair<SchedulerEntry, int>> chosen;  // entry, tokens this step

  // 1. running, oldest first
  for (size_t i = 0; i < running_.size();) {
    const SchedulerEntry e = running_[i];
    Sequence& seq = *e.seq;
    const int n = tokens_this_step(seq, budget);
    if (n == 0) {
      ++i;
      continue;
    }
    bool fits = seqs_.reserve(seq, seq.kv_len + n);
    while (!fits && running_.back().arrival != e.arrival) {
      preempt(running_.size() - 1, e.arrival, &d);
      fits = seqs_.reserve(seq, seq.kv_len + n);
    }
    if (!fits) {
      if (i == 0) {
        // Alone (everything younger was preempted) and still short: the pool is too small.
        const int need = seqs_.blocks_needed(seq, seq.kv_len + n) + static_cast<int>(seq.blocks.size());
        fail(e,
             "KV cache too small: session " + std::to_string(seq.session_id) + " needs " + std::to_string(need) +
                 " blocks of " + std::to_string(seqs_.block_len()) + " tokens, the pool has " +
                 std::to_string(seqs_.block_manager().num_blocks()) +
                 " (raise cache_max_entry_count or lower session_len)",
             &d);
      } else {
        preempt(i, e.arrival, &d);  // the youngest: wait for older ones to finish
      }
      continue;
    }
    if (tokens_left(seq) > 1) budget -= n;
    chosen.emplace_back(e, n);
    ++i;
  }

  // 2. admit waiting, oldest first
  while (!waiting_.empty() && static_cast<int>(running_.size()) < cfg_.max_batch_size && budget > 0) {
    const SchedulerEntry e = waiting_.front();
    Sequence& seq = *e.seq;
    const bool resumed = !seq.blocks.empty() || seq.kv_len != 0;
    if (resumed) {
      seqs_.lock(seq);
    } else {
      seqs_.match_prefix(seq);
    }
    const int kv_len_at_lock = seq.kv_len;
    const int n = tokens_this_step(seq, budget);
    if (!seqs_.reserve(seq, seq.kv_len + n)) {
      seqs_.unlock(seq);
      if (running_.empty()) {
        // Nothing else holds blocks: even the first chunk cannot fit.
        fail(e,
             "KV cache too small: " + std::to_string(n) + " tokens need " +
                 std::to_string(seqs_.blocks_needed(seq, seq.kv_len + n)) + " blocks, the pool has " +
                 std::to_string(seqs_.block_manager().num_blocks()),
             &d);
        continue;
      }
      break;
    }
    waiting_.pop_front();
    running_.insert(std::upper_bound(running_.begin(), running_.end(), e, older), e);
    d.admitted.push_back({e.arrival, resumed, kv_len_at_lock});
    if (tokens_left(seq) > 1) budget -= n;
    chosen.emplace_back(e, n);
  }

  // 3. the plan, in the order chosen
  for (const auto& [e, n] : chosen) {
    const Sequence& seq = *e.seq;
    append_sequence(&d.plan, seq.tokens.data() + seq.kv_len, n, seq.kv_len, seq.blocks,
                    seq.kv_len + n == static_cast<int>(seq.tokens.size()), seq.session_id);
    d.planned.push_back(e.arrival);
  }
  return d;
}

}  // namespace lmd
