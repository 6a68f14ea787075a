#include "core/step_plan.h"

#include <utility>

namespace lmd {

StepSequence& append_sequence(StepPlan* plan, const int32_t* tokens, int32_t n_tokens, int32_t history_len,
                              std::vector<int32_t> block_table, bool need_logits, int64_t seq_id) {
  StepSequence s;
  s.seq_id = seq_id;
  s.token_offset = static_cast<int32_t>(plan->tokens.size());
  s.n_tokens = n_tokens;
  s.history_len = history_len;
  s.need_logits = need_logits;
  s.block_table = std::move(block_table);
  plan->tokens.insert(plan->tokens.end(), tokens, tokens + n_tokens);
  plan->seqs.push_back(std::move(s));
  return plan->seqs.back();
}

StepPlan single_sequence_plan(const std::vector<int32_t>& tokens, int32_t history_len,
                              std::vector<int32_t> block_table, bool need_logits, int64_t seq_id) {
  StepPlan plan;
  append_sequence(&plan, tokens.data(), static_cast<int32_t>(tokens.size()), history_len, std::move(block_table),
                  need_logits, seq_id);
  return plan;
}

}  // namespace lmd
