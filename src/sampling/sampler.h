// Turns one row of logits into one token for one request, lmdeploy's order:
//   repetition / presence / frequency penalty -> ban eos (ignore_eos, min_new_tokens)
//   -> temperature (0 = greedy) -> top-k -> softmax -> top-p, min-p -> sample.
// Each request owns its RequestSampler (its RNG and token counts), so a seeded request
// draws the same numbers whatever else shares the batch.
#pragma once

#include <cstdint>
#include <random>
#include <unordered_map>
#include <utility>
#include <vector>

#include "lmdeploy/engine.h"

namespace lmd {

class RequestSampler {
 public:
  // `history`: tokens before this request's first sampled token (the whole session,
  // prompt included) — the repetition penalty looks at them. `default_seed` is used when
  // cfg.seed is empty.
  RequestSampler(const GenerationConfig& cfg, int32_t eos_id, const std::vector<int32_t>& history,
                 uint64_t default_seed);

  // logits: [vocab] fp32, left unchanged. Returns the token and, when the request asked
  // for logprobs, its logprob under the model's distribution (raw logits, before any
  // penalty or temperature) plus the top alternatives.
  TokenLogprob sample(const float* logits, int vocab);
  int generated() const { return generated_; }

 private:
  double uniform();

  GenerationConfig cfg_;
  int32_t eos_id_;
  std::mt19937_64 rng_;
  std::unordered_map<int32_t, int> seen_;       // history + generated: token -> count
  std::unordered_map<int32_t, int> generated_counts_;
  int generated_ = 0;
  std::vector<float> work_;                     // [vocab] processed logits
  std::vector<std::pair<float, int32_t>> cand_;  // (logit or prob, token)
};

}  // namespace lmd
