// The Llama-family forward pass (Llama, SmolLM2, InternLM, Qwen2, Mistral shapes) over a
// StepPlan, written only against the Backend ops. Supports q/k/v bias, tied embeddings,
// GQA, both RoPE pairings, dynamic NTK and logN attention scaling.
#pragma once

#include <cstdint>
#include <memory>

#include "kv/kv_layout.h"
#include "model/model.h"
#include "model/weights.h"

namespace lmd {

struct ModelRuntimeOptions {
  int threads = 0;               // 0 = hardware concurrency
  KvKind kv_kind = KvKind::kF16;
  int32_t kv_num_blocks = 0;     // blocks in the KV pool (the engine decides)
  int block_len = 64;            // positions per KV block
  // fp32 activations in every linear (the reference path for logits tests); otherwise
  // activations are quantised to int8 per 32-block for int4/int8 weights (as llama.cpp).
  bool exact = false;
};

class LlamaModel : public Model {
 public:
  virtual size_t kv_pool_bytes() const = 0;
};

// Uploads (repacks) the weights and allocates the KV pool. `w` may be freed afterwards.
std::unique_ptr<LlamaModel> create_llama_model(const ModelWeights& w, const ModelRuntimeOptions& opt);

}  // namespace lmd
