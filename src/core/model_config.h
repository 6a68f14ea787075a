// The model's shape and the engine's run-time settings, as config.ini's [llama]
// section holds them (field names are lmdeploy's, see the seed tutorial 2.6.2).
#pragma once

#include <string>

#include "core/dtype.h"

namespace lmd {

enum class RopePairing {
  kHalfSplit,  // rotate (x_i, x_{i+d/2}) — HF checkpoints, and every workspace
  kAdjacent,   // rotate (x_{2i}, x_{2i+1}) — GGUF's permuted q/k rows, when loaded as is
};

struct ModelConfig {
  // --- identity and shape (fixed by the model) ---
  std::string model_name;            // chat template name (see template/chat_template.h)
  std::string architecture = "llama";  // llama | internlm | qwen2 | mistral (informational)
  int tensor_para_size = 1;
  int head_num = 0;
  int kv_head_num = 0;
  int size_per_head = 0;
  int hidden_units = 0;              // usually head_num * size_per_head (SmolLM2: 576 = 9*64)
  int vocab_size = 0;
  int num_layer = 0;
  int inter_size = 0;
  float norm_eps = 1e-6f;
  bool attn_bias = false;            // q/k/v bias (InternLM, Qwen2)
  int start_id = 1;                  // BOS
  int end_id = 2;                    // EOS
  int rotary_embedding = 0;          // rotary dims (= size_per_head)
  float rope_theta = 10000.0f;
  int max_position_embeddings = 2048;
  bool tie_word_embeddings = false;  // output.weight is tok_embeddings.weight
  RopePairing rope_pairing = RopePairing::kHalfSplit;

  // --- data types (fixed by the conversion) ---
  DType weight_type = DType::kF16;   // fp32 | fp16 | bf16 | int4
  int group_size = 0;                // int4 only

  // --- run-time settings users edit ---
  int session_len = 2048;
  int max_batch_size = 64;
  int max_context_token_num = 1;
  int step_length = 1;
  float cache_max_entry_count = 0.5f;  // < 1: fraction of free memory; >= 1: block count
  int cache_block_seq_len = 64;
  int cache_chunk_size = 1;
  int use_context_fmha = 1;
  int quant_policy = 0;              // KV cache: 0 none, 4 int8 (seed numbering); see docs
  float rope_scaling_factor = 0.0f;  // > 0: dynamic NTK
  int use_logn_attn = 0;
  int max_prefill_token_num = 8192;  // tokens of prefill per step (chunked prefill)

  int q_dim() const { return head_num * size_per_head; }
  int kv_dim() const { return kv_head_num * size_per_head; }
};

}  // namespace lmd
