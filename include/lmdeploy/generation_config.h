// How one request samples and when it stops (lmdeploy's GenerationConfig).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace lmd {

struct GenerationConfig {
  int max_new_tokens = 512;      // >= 0; generation also stops at session_len
  int min_new_tokens = 0;        // eos and stop_token_ids are banned before this many tokens
  float temperature = 0.8f;      // >= 0; 0 = greedy
  int top_k = 50;                // >= 0; 0 = no top-k
  float top_p = 1.0f;            // (0, 1]
  float min_p = 0.0f;            // [0, 1]; keep tokens with p >= min_p * p_max
  float repetition_penalty = 1.0f;  // > 0; over prompt and generated tokens (CTRL style)
  float presence_penalty = 0.0f;    // OpenAI: minus this once for every generated token seen
  float frequency_penalty = 0.0f;   // OpenAI: minus this times each generated token's count
  std::optional<uint64_t> seed;     // same seed -> same tokens, whatever else is batched
  bool ignore_eos = false;
  std::vector<int32_t> stop_token_ids;   // besides eos; the stop token is not output
  std::vector<std::string> stop_strings;  // matched on decoded text; not output
  bool logprobs = false;  // logprob of each output token
  int top_logprobs = 0;   // and the n most likely alternatives (0..20)
};

// Throws lmd::Error naming the field and its value when a field is out of range.
void validate(const GenerationConfig& cfg);

}  // namespace lmd
