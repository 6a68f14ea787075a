// Hugging Face config.json -> ModelConfig for the Llama family we run:
// LlamaForCausalLM, MistralForCausalLM, InternLMForCausalLM (bias -> attn_bias),
// Qwen2ForCausalLM (q/k/v bias always). AWQ checkpoints carry quantization_config,
// returned alongside so the loader can pick the AWQ source.
#pragma once

#include <string>

#include <nlohmann/json_fwd.hpp>

#include "core/model_config.h"

namespace lmd {

struct HfQuantConfig {
  bool present = false;
  std::string quant_method;  // "awq", ...
  std::string version;       // AutoAWQ: "gemm" | "gemv"
  int bits = 0;
  int group_size = 0;
  bool zero_point = true;
};

struct HfModelInfo {
  ModelConfig config;
  std::string hf_architecture;  // "LlamaForCausalLM", ...
  std::string torch_dtype;      // "float16", "bfloat16", "float32" or ""
  HfQuantConfig quant;
};

// Architectures we accept, for messages: "LlamaForCausalLM, MistralForCausalLM, ...".
std::string supported_hf_architectures();

// Reads `path` (a config.json file, or a directory holding one). Errors name the file and
// the field: "<path>: missing field 'num_attention_heads'", "unsupported architecture X
// (supported: ...)".
HfModelInfo parse_hf_config(const std::string& path);
// Same from parsed JSON; `path` is used in messages only.
HfModelInfo parse_hf_config_json(const nlohmann::json& j, const std::string& path);

}  // namespace lmd
