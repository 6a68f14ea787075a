// `--calib_dataset self`: calibration text written by the model itself, so calibration
// works with nothing else at hand. Each sample starts with BOS (when the vocabulary has
// one) and a uniformly drawn non-special token, then samples top-k 40 at temperature 1.0
// with std::mt19937_64(seed); all samples are generated together, one token per step each.
#pragma once

#include <cstdint>
#include <vector>

#include "lite/lite_model.h"

namespace lmd::lite {

std::vector<std::vector<int32_t>> generate_self_samples(LlamaModel& model, const Tokenizer& tok, int samples,
                                                        int seqlen, uint64_t seed);

}  // namespace lmd::lite
