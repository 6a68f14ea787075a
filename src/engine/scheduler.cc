// Persistent batching, one step at a time (engine thread only):
//   1. running sequences, oldest first, get their next tokens (one when decoding, a chunk
//      when still prefilling) and the blocks for them; when the pool is short the
//      youngest running sequence is preempted (blocks released to CACHED, tokens kept,
//      recomputed when readmitted) until the older one fits;
//   2. waiting requests, oldest first, are admitted while the batch has room and the
//      step's prefill budget lasts. Admission never preempts, so the oldest sequence always
//      progresses.
// The prefill budget is max_prefill_token_num, or max_prefill_token_num_decoding when a
// running sequence decodes this step, so a long prompt does not stall the decoding rows.
// A sequence that cannot fit even alone in the whole pool fails with an error naming the
// sizes (never a silent truncation).
#include <algorithm>

#include "engine/engine_impl.h"

namespace lmd {

void EngineImpl::add_waiting(ActiveRequest* r) {
  auto pos = std::upper_bound(waiting_.begin(), waiting_.end(), r,
                              [](const ActiveRequest* a, const ActiveRequest* b) { return a->arrival < b->arrival; });
  waiting_.insert(pos, r);
}

void EngineImpl::preempt(ActiveRequest* r) {
  seqs_.unlock(r->session->seq);
  running_.erase(std::remove(running_.begin(), running_.end(), r), running_.end());
  add_waiting(r);
  ++counters_.preemptions;
}

// Locks the request's sequence (taking back surviving KV, or a shared prefix).
bool EngineImpl::admit(ActiveRequest* r) {
  Sequence& seq = r->session->seq;
  if (seq.blocks.empty() && seq.kv_len == 0) {
    seqs_.match_prefix(seq);
  } else {
    seqs_.lock(seq);
    if (r->first_admission) counters_.session_reused_tokens += seq.kv_len;
  }
  r->first_admission = false;
  return true;
}

void EngineImpl::schedule(StepPlan* plan, std::vector<ActiveRequest*>* planned) {
  int budget = cfg_.max_prefill_token_num;
  if (cfg_.max_prefill_token_num_decoding > 0) {
    const bool decoding = std::any_of(running_.begin(), running_.end(), [](const ActiveRequest* r) {
      const Sequence& seq = r->session->seq;
      return static_cast<int>(seq.tokens.size()) - seq.kv_len == 1;
    });
    if (decoding) budget = std::min(budget, cfg_.max_prefill_token_num_decoding);
  }
  std::vector<std::pair<ActiveRequest*, int>> chosen;  // request, tokens this step

  // 1. running, oldest first
  for (size_t i = 0; i < running_.size();) {
    ActiveRequest* r = running_[i];
    Sequence& seq = r->session->seq;
    const int remaining = static_cast<int>(seq.tokens.size()) - seq.kv_len;
    int n = remaining == 1 ? 1 : std::min(remaining, budget);
    if (n == 0) {
      ++i;
      continue;
    }
    bool fits = seqs_.reserve(seq, seq.kv_len + n);
    while (!fits && running_.back() != r) {
      preempt(running_.back());
      fits = seqs_.reserve(seq, seq.kv_len + n);
    }
    if (!fits) {
      if (i == 0) {
        // Alone (everything younger was preempted) and still short: the pool is too small.
        const int need = seqs_.blocks_needed(seq, seq.kv_len + n) + static_cast<int>(seq.blocks.size());
        finish(r, "error",
               GenerationOutput{{}, {}, {}, "error",
                                "KV cache too small: session " + std::to_string(seq.session_id) + " needs " +
                                    std::to_string(need) + " blocks of " + std::to_string(block_len_) +
                                    " tokens, the pool has " + std::to_string(blocks_.num_blocks()) +
                                    " (raise cache_max_entry_count or lower session_len)",
                                {}});
      } else {
        preempt(r);  // r is the youngest: wait for older ones to finish
      }
      continue;
    }
    if (remaining > 1) budget -= n;
    chosen.emplace_back(r, n);
    ++i;
  }

  // 2. admit waiting, oldest first
  while (!waiting_.empty() && static_cast<int>(running_.size()) < cfg_.max_batch_size && budget > 0) {
    ActiveRequest* r = waiting_.front();
    Sequence& seq = r->session->seq;
    admit(r);
    const int remaining = static_cast<int>(seq.tokens.size()) - seq.kv_len;
    const int n = remaining == 1 ? 1 : std::min(remaining, budget);
    if (!seqs_.reserve(seq, seq.kv_len + n)) {
      seqs_.unlock(seq);
      if (running_.empty()) {
        // Nothing else holds blocks: even the first chunk cannot fit.
        finish(r, "error",
               GenerationOutput{{}, {}, {}, "error",
                                "KV cache too small: " + std::to_string(n) + " tokens need " +
                                    std::to_string(seqs_.blocks_needed(seq, seq.kv_len + n)) +
                                    " blocks, the pool has " + std::to_string(blocks_.num_blocks()),
                                {}});
        continue;
      }
      break;
    }
    waiting_.pop_front();
    running_.push_back(r);
    std::sort(running_.begin(), running_.end(),
              [](const ActiveRequest* a, const ActiveRequest* b) { return a->arrival < b->arrival; });
    if (remaining > 1) budget -= n;
    chosen.emplace_back(r, n);
  }

  // 3. the plan, in the order chosen
  for (const auto& [r, n] : chosen) {
    Sequence& seq = r->session->seq;
    StepSequence ss;
    ss.seq_id = seq.session_id;
    ss.token_offset = static_cast<int32_t>(plan->tokens.size());
    ss.n_tokens = n;
    ss.history_len = seq.kv_len;
    ss.need_logits = seq.kv_len + n == static_cast<int>(seq.tokens.size());
    ss.block_table = seq.blocks;
    plan->tokens.insert(plan->tokens.end(), seq.tokens.begin() + seq.kv_len, seq.tokens.begin() + seq.kv_len + n);
    plan->seqs.push_back(std::move(ss));
    planned->push_back(r);
  }
}

}  // namespace lmd
