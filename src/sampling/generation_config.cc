#include "lmdeploy/generation_config.h"

#include <cmath>

#include "core/error.h"

namespace lmd {

void validate(const GenerationConfig& c) {
  LMD_CHECK(c.max_new_tokens >= 0) << "max_new_tokens must be >= 0, got " << c.max_new_tokens;
  LMD_CHECK(c.min_new_tokens >= 0) << "min_new_tokens must be >= 0, got " << c.min_new_tokens;
  LMD_CHECK(std::isfinite(c.temperature) && c.temperature >= 0.0f)
      << "temperature must be >= 0, got " << c.temperature;
  LMD_CHECK(c.top_k >= 0) << "top_k must be >= 0, got " << c.top_k;
  LMD_CHECK(std::isfinite(c.top_p) && c.top_p > 0.0f && c.top_p <= 1.0f)
      << "top_p must be in (0, 1], got " << c.top_p;
  LMD_CHECK(std::isfinite(c.min_p) && c.min_p >= 0.0f && c.min_p <= 1.0f)
      << "min_p must be in [0, 1], got " << c.min_p;
  LMD_CHECK(std::isfinite(c.repetition_penalty) && c.repetition_penalty > 0.0f)
      << "repetition_penalty must be > 0, got " << c.repetition_penalty;
  LMD_CHECK(std::isfinite(c.presence_penalty) && std::fabs(c.presence_penalty) <= 2.0f)
      << "presence_penalty must be in [-2, 2], got " << c.presence_penalty;
  LMD_CHECK(std::isfinite(c.frequency_penalty) && std::fabs(c.frequency_penalty) <= 2.0f)
      << "frequency_penalty must be in [-2, 2], got " << c.frequency_penalty;
  LMD_CHECK(c.top_logprobs >= 0 && c.top_logprobs <= 20) << "top_logprobs must be in [0, 20], got "
                                                         << c.top_logprobs;
  for (const auto& s : c.stop_strings) LMD_CHECK(!s.empty()) << "stop strings must not be empty";
}

}  // namespace lmd
