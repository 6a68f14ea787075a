// One entry point for "a model path" (what `chat PATH`, `serve api_server PATH` and the
// engine call): a workspace directory, an HF directory (AWQ when config.json has an awq
// quantization_config) or a .gguf file -> canonical ModelWeights.
#pragma once

#include <string>
#include <vector>

#include "core/weights.h"

namespace lmd {

struct LoadOptions {
  std::string model_format;            // "" = detect; "hf" | "awq" | "gguf" | "workspace"
  int group_size = 0;                  // AWQ: when > 0, must equal quantization_config's
  bool keep_gguf_rope_layout = false;  // GGUF: keep llama.cpp's q/k rows (RopePairing::kAdjacent)
  int tp = 1;                          // tensor-parallel ranks the weights are for (see below)
  int rank = 0;                        // which rank's shards load_model_weights returns
  std::string model_name;              // when non-empty, overrides config.model_name
};

// "workspace" (has triton_models/weights/config.ini), "gguf" (a regular file), "awq"
// (config.json with quantization_config.quant_method awq) or "hf" (config.json).
// Throws naming the path when it is none of these.
std::string detect_model_format(const std::string& path);

// Rank options.rank of options.tp (the whole model when tp is 1). A workspace converted
// for the same tp is read as is; a workspace converted for another tp is re-sharded on
// load (its ranks merged, then split again: convert/tp_split.h); any other model is split
// at load. Head counts / inter_size not divisible by tp: an error naming them.
ModelWeights load_model_weights(const std::string& path, const LoadOptions& options = {});

// Every rank's weights at once (one read of the source): result[r] for r < options.tp
// (options.rank is ignored); what a tensor-parallel engine loads.
std::vector<ModelWeights> load_model_shards(const std::string& path, const LoadOptions& options = {});

}  // namespace lmd
