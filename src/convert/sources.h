// Source checkpoints -> canonical ModelWeights (core/weights.h). One file per source:
// gguf_source.cc, hf_source.cc, awq_source.cc. Use load_model.h for path dispatch.
#pragma once

#include <string>

#include "format/hf_config.h"
#include "core/weights.h"

namespace lmd::convert {

// GGUF (general.architecture = llama or qwen2; anything else is an error listing these).
// Storage types: each matrix as gguf_repack.h maps it (Q4_0 / Q4_1 / Q4_K -> kInt4 group 32,
// Q8_0 / Q5_0 -> grouped kI8 group 32, Q5_1 / Q2_K / Q3_K / Q5_K / Q6_K -> kF16, F32 / F16 /
// BF16 kept; exact or within the fp16 bounds stated there).
// Norms and biases are kF32. q/k rows (and biases) are un-permuted to half-split RoPE
// order unless keep_gguf_rope_layout, which keeps llama.cpp's rows and sets
// RopePairing::kAdjacent. qwen2's rows are not permuted in GGUF (llama.cpp rotates them
// half-split), so they load as they are and keep_gguf_rope_layout changes nothing; its
// q/k/v biases are required. No output.weight -> tie_word_embeddings, output empty.
ModelWeights load_gguf_weights(const std::string& path, bool keep_gguf_rope_layout);
// "llama, qwen2": the general.architecture values load_gguf_weights accepts.
std::string supported_gguf_architectures();

// HF safetensors directory (single or sharded), f32/f16/bf16 matrices kept as they are,
// norms and biases as fp32.
ModelWeights load_hf_weights(const std::string& dir, const HfModelInfo& info);

// AutoAWQ GEMM checkpoint -> kInt4 [out, in] with min = -zero·scale. group_size > 0
// must equal quantization_config.group_size.
ModelWeights load_awq_weights(const std::string& dir, const HfModelInfo& info, int group_size);

// The model name written into config when a caller gives none is the caller's business;
// loaders leave ModelConfig::model_name empty.

}  // namespace lmd::convert
