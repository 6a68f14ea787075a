// Turns one row of logits into one token for one request, lmdeploy's order:
//   repetition / presence / frequency penalty -> ban eos (ignore_eos, min_new_tokens)
//   -> temperature (0 = greedy) -> top-k -> softmax -> top-p, min-p -> sample.
// Each request owns its RequestSampler (its RNG and token counts), so a seeded request
// draws the same numbers whatever else shares the batch.
//
// A token is chosen either here (sample) or on a device (SamplingBatch, kernels/cuda/
// sampling.cuh, the same rule and arithmetic): the device gets params(), append_bans(),
// draw_uniform() and the sparse counts, and the chosen token comes back through accept().
// The uniform is drawn once per token whichever side chooses it: when the device declines
// a row, sample() uses the uniform already drawn, so a seeded request gives the same tokens
// on either path.
#pragma once

#include <cstdint>
#include <random>
#include <unordered_map>
#include <utility>
#include <vector>

#include "lmdeploy/engine.h"
#include "core/sampling_batch.h"

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

  // --- the inputs of the next token for a device sampler ---
  // Logprobs asked: only sample() computes them (the row needs its logits on the host).
  bool wants_logprobs() const { return cfg_.logprobs || cfg_.top_logprobs > 0; }
  SamplingParams params() const;
  // Appends the ids banned for the next token: eos (ignore_eos, or before min_new_tokens)
  // and the stop ids (before min_new_tokens).
  void append_bans(std::vector<int32_t>* out) const;
  // The uniform the next token is drawn with, from this request's RNG (0, nothing drawn, when
  // the rule is greedy). Kept until the token is recorded: a sample() before then uses it.
  double draw_uniform();
  // Appends this request's row for its next token to `batch` (draws its uniform).
  void add_device_row(SamplingBatch* batch);
  // (token, count) of the prompt + generated tokens when the repetition penalty is on, and
  // of the generated tokens when a presence / frequency penalty is on; else nothing.
  void append_seen(std::vector<TokenCount>* out) const;
  void append_generated(std::vector<TokenCount>* out) const;
  // Records the next token chosen elsewhere (counts, generated); `token` in [0, vocab).
  void accept(int32_t token);

 private:
  bool greedy() const { return cfg_.temperature == 0.0f || cfg_.top_k == 1; }
  double uniform();  // the drawn-ahead uniform if there is one, else the next from rng_
  int32_t choose(const float* logits, int vocab);

  GenerationConfig cfg_;
  int32_t eos_id_;
  std::mt19937_64 rng_;
  std::unordered_map<int32_t, int> seen_;       // history + generated: token -> count
  std::unordered_map<int32_t, int> generated_counts_;
  int generated_ = 0;
  bool has_drawn_ = false;  // draw_uniform() ran for the next token
  double drawn_ = 0.0;
  std::vector<float> work_;                     // [vocab] processed logits
  std::vector<int32_t> bans_;                   // this token's banned ids
  std::vector<std::pair<float, int32_t>> cand_;  // (logit or prob, token)
};

}  // namespace lmd
