// Small drivers over Model::forward that need no engine: teacher-forced logits of one
// token sequence (the `logits` command, the logits tests), greedy continuation (smoke
// tests), and the forward-pass benchmark (`bench_forward`). Each uses blocks 0.. of the
// model's KV pool directly, so the model must not be shared with an engine meanwhile.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/model.h"

namespace lmd {

// Logits [ids.size(), vocab] of every position (one decode step per token).
std::vector<float> teacher_forced_logits(Model& model, const std::vector<int32_t>& ids);

// Greedy (argmax) continuation of `prompt` by up to `max_new` tokens, stopping at `stop_id`.
std::vector<int32_t> greedy_generate(Model& model, const std::vector<int32_t>& prompt, int max_new,
                                     int32_t stop_id = -1);

struct BenchForwardOptions {
  int prefill_tokens = 512;               // one sequence prefilled in one step
  std::vector<int> decode_batches = {1, 8, 32};
  int decode_steps = 64;                  // decode steps timed per batch size
  int context = 16;                       // prompt tokens each decoding sequence starts with
  int repeats = 3;                        // best of
};
struct BenchForwardResult {
  double prefill_tok_s = 0;
  std::vector<std::pair<int, double>> decode_tok_s;  // (batch, tok/s)
};
BenchForwardResult bench_forward(Model& model, const BenchForwardOptions& opt);

}  // namespace lmd
