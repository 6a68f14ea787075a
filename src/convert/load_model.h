// One entry point for "a model path" (what `chat PATH`, `serve api_server PATH` and the
// engine call): a workspace directory, an HF directory (AWQ when config.json has an awq
// quantization_config) or a .gguf file -> canonical ModelWeights.
#pragma once

#include <string>

#include "model/weights.h"

namespace lmd {

struct LoadOptions {
  std::string model_format;            // "" = detect; "hf" | "awq" | "gguf" | "workspace"
  int group_size = 0;                  // AWQ: when > 0, must equal quantization_config's
  bool keep_gguf_rope_layout = false;  // GGUF: keep llama.cpp's q/k rows (RopePairing::kAdjacent)
  int tp = 1;                          // workspace: must equal its tensor_para_size
  int rank = 0;                        // workspace: which rank's tensors
  std::string model_name;              // when non-empty, overrides config.model_name
};

// "workspace" (has triton_models/weights/config.ini), "gguf" (a regular file), "awq"
// (config.json with quantization_config.quant_method awq) or "hf" (config.json).
// Throws naming the path when it is none of these.
std::string detect_model_format(const std::string& path);

ModelWeights load_model_weights(const std::string& path, const LoadOptions& options = {});

}  // namespace lmd
