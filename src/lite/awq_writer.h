// Writes AWQ-quantised ModelWeights as an AutoAWQ "gemm" checkpoint directory:
//   model.safetensors  per linear: {q,k,v,o}_proj / {gate,up,down}_proj .qweight/.qzeros/.scales
//                      (lite/awq_pack.h); embeddings, norms, biases, lm_head as F16
//   config.json        the source's config.json (HF source) or one written from the model
//                      config (GGUF source), with torch_dtype float16 and
//                      quantization_config {quant_method awq, version gemm, bits 4,
//                      group_size, zero_point true}
//   tokenizer          tokenizer.json / tokenizer.model / tokenizer_config.json /
//                      special_tokens_map.json / generation_config.json copied from an HF
//                      source (or a workspace's triton_models/tokenizer); tokenizer.gguf
//                      (vocabulary-only GGUF) + tokenizer_config.json {chat_template} from a
//                      GGUF source — `convert` copies them
#pragma once

#include <string>

#include "core/weights.h"

namespace lmd::lite {

void write_awq_checkpoint(const std::string& source_model, const ModelWeights& q, const std::string& out_dir);

}  // namespace lmd::lite
