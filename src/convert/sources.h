// Source checkpoints -> canonical ModelWeights (core/weights.h). One file per source:
// gguf_source.cc, hf_source.cc, awq_source.cc. Use load_model.h for path dispatch.
#pragma once

#include <string>

#include "format/hf_config.h"
#include "core/weights.h"

namespace lmd::convert {

// GGUF (general.architecture = llama or qwen2; anything else is an error listing these).
// Storage types:
//   Q4_1 -> kInt4 group 32 (scale = d, min = m, fp16 bits copied; nibbles repacked),
//   Q4_0 -> kInt4 group 32 (scale = d, min = -8·d: exact in fp16 and in the fp32 sum),
//   Q8_0 -> grouped kI8 group 32 (scale = d), F32 / F16 / BF16 -> same dtype,
//   every other ggml type (Q5_0, Q5_1, Q2_K..Q6_K) -> dequantised to kF32
//   (lmd::gguf::dequantize, bit-exact with the gguf Python package).
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
