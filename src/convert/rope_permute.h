// llama.cpp's converter permutes q/k rows per head so RoPE rotates adjacent pairs:
// GGUF row h·d + 2i + j holds HF row h·d + j·d/2 + i (d = rows per head, j in {0, 1}).
// These move whole rows (int4/int8 scale rows move with them; vectors: one value a row).
#pragma once

#include "core/weights.h"

namespace lmd::convert {

// GGUF (adjacent pairs) -> HF (half-split) row order, in place.
void unpermute_gguf_rows(WeightTensor& t, int n_heads);
// HF -> GGUF row order (the inverse; used by tests and exporters).
void permute_to_gguf_rows(WeightTensor& t, int n_heads);

}  // namespace lmd::convert
