// `lmdeploy convert`: a source model (HF / AWQ / GGUF) -> a TurboMind workspace
// (docs/workspace.md). The CLI only parses flags into ConvertOptions.
#pragma once

#include <cstdint>
#include <string>

#include "format/workspace.h"
#include "core/weights.h"

namespace lmd::convert {

struct ConvertOptions {
  std::string model_name;         // written to config.ini (non-empty)
  std::string model_path;         // HF / AWQ directory or .gguf file
  std::string model_format;       // "" = detect | hf | awq | gguf
  std::string tokenizer_path;     // "" = from the model
  std::string dst_path = "./workspace";
  int tp = 1;
  int group_size = 0;             // AWQ: must match quantization_config.group_size when > 0
  bool force = false;             // replace DST/triton_models when DST is not empty
  bool progress = true;           // progress bar on stderr
};

struct ConvertSummary {
  std::string dst_path;
  std::string model_format;
  int tp = 1;
  int64_t tensors = 0;  // logical tensors per rank summed (an int4 tensor is one, in two files)
  workspace::WriteStats written;
};

ConvertSummary convert_model(const ConvertOptions& options);

// The weights half of a workspace: DST/triton_models/weights/{config.ini, tensors} for
// `tp` ranks. Checks the split first (heads / kv heads / inter_size / groups).
// Used by convert_model and by `lite auto_awq`.
ConvertSummary write_workspace_weights(const ModelWeights& w, const std::string& dst_path, int tp, bool progress);

}  // namespace lmd::convert
