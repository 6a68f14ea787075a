// A request's sampling rule as the samplers read it (GenerationConfig's fields): the host
// batch (sampling_batch.h) and the device kernel (kernels/cuda/sampling.cuh) share it, so it
// stays a plain struct with no dependencies.
#pragma once

#include <cstdint>

namespace lmd {

struct SamplingParams {
  float temperature = 1.0f;  // 0: greedy
  int32_t top_k = 0;         // 0: no top-k
  float top_p = 1.0f;
  float min_p = 0.0f;
  float repetition_penalty = 1.0f;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
};

}  // namespace lmd
