// What one engine step computes: the flattened tokens of this step (prefill chunks and
// one token per decoding sequence), where each sequence's tokens sit in the KV cache, and
// which rows need logits. Built by the scheduler (engine/scheduler.h) or, for one sequence
// or a fixed batch outside the engine, with append_sequence / single_sequence_plan;
// consumed by Model::forward.
#pragma once

#include <cstdint>
#include <vector>

namespace lmd {

struct StepSequence {
  int64_t seq_id = 0;        // engine-internal sequence id (for logging / debugging)
  int32_t token_offset = 0;  // first index of this sequence's tokens in StepPlan::tokens
  int32_t n_tokens = 0;      // tokens computed this step (a prefill chunk, or 1 when decoding)
  int32_t history_len = 0;   // tokens already in the KV cache before this step (their positions
                             // are 0 .. history_len-1; this step's are history_len ...)
  bool need_logits = false;  // produce logits for the last token of this step
  // KV block ids covering positions [0, history_len + n_tokens): position p lives in
  // block_table[p / block_len] at slot p % block_len.
  std::vector<int32_t> block_table;
};

struct StepPlan {
  std::vector<int32_t> tokens;       // [total tokens of this step]
  std::vector<StepSequence> seqs;    // in the order their tokens appear
  // Rows of the logits output, in order: one per sequence with need_logits.
  int num_logit_rows() const {
    int n = 0;
    for (const auto& s : seqs) n += s.need_logits ? 1 : 0;
    return n;
  }
};

// Appends one sequence to `plan`: tokens[0, n_tokens) at positions history_len ...,
// token_offset set to where they start in plan->tokens. Returns the new entry.
StepSequence& append_sequence(StepPlan* plan, const int32_t* tokens, int32_t n_tokens, int32_t history_len,
                              std::vector<int32_t> block_table, bool need_logits, int64_t seq_id = 0);

// A plan of one sequence: `tokens` at positions history_len ..., logits of the last one
// when need_logits.
StepPlan single_sequence_plan(const std::vector<int32_t>& tokens, int32_t history_len,
                              std::vector<int32_t> block_table, bool need_logits = true, int64_t seq_id = 0);

}  // namespace lmd
