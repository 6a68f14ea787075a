// The TurboMind workspace (lmdeploy's `convert` output), see docs/workspace.md:
//   DST/triton_models/weights/config.ini        [llama] section (+ optional [tensor_types])
//   DST/triton_models/weights/<tensor files>     raw little-endian arrays, one per tensor
//                                                 per tensor-parallel rank
//   DST/triton_models/tokenizer/                 tokenizer files (or tokenizer.gguf)
// This file knows names, files, dtypes and sizes; how tensors are split across ranks is
// convert/tp_split.h (the reader only slices the fused w_qkv back into q, k, v).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/weights.h"

namespace lmd::workspace {

// DST/triton_models/weights and DST/triton_models/tokenizer.
std::string weights_dir(const std::string& workspace);
std::string tokenizer_dir(const std::string& workspace);
// True when `path` holds triton_models/weights/config.ini.
bool is_workspace(const std::string& path);

// config.ini's content. Tensor storage types: norms and biases are always fp32; the
// embedding and output matrices have their own type; every other matrix is weight_type
// unless [tensor_types] names it (GGUF files mix types per tensor).
struct WorkspaceConfig {
  ModelConfig model;
  DType embedding_type = DType::kF16;
  DType output_type = DType::kF16;
  int int8_group_size = 0;                    // group of every grouped-int8 tensor (Q8_0: 32)
  std::map<std::string, DType> tensor_types;  // base name ("layers.3.feed_forward.w2") -> dtype

  // Storage type of a matrix by its base name ("tok_embeddings", "layers.0.attention.wo").
  DType matrix_type(const std::string& base) const;
  // Group size that goes with `t` (group_size for int4, int8_group_size for int8, else 0).
  int group_of(DType t) const;
};

// Writes config.ini (every seed field in the seed's order, then ours).
void write_config_ini(const std::string& path, const WorkspaceConfig& cfg);
// Parses and validates config.ini; errors name the file, the field and the value.
WorkspaceConfig read_config_ini(const std::string& path);

struct WriteStats {
  int64_t files = 0;
  int64_t bytes = 0;
};
// Writes `t` under `dir` as base + ".weight" (dense), base + ".qweight" + ".scales_zeros"
// (int4) or base + ".qweight" + ".scales" (grouped int8). base: "layers.0.attention.wo.0".
void write_tensor(const std::string& dir, const std::string& base, const WeightTensor& t, WriteStats* stats);
// A dense bias/vector as base + ".bias" (fp32 expected).
void write_bias(const std::string& dir, const std::string& base, const WeightTensor& t, WriteStats* stats);

// Loads rank `rank`'s tensors. The returned config is the whole model's (head_num etc. as
// in config.ini); per-layer tensors are the rank's slices: wq [q_dim/tp, hidden],
// wk/wv [kv_dim/tp, hidden], wo [hidden, q_dim/tp], w1/w3 [inter/tp, hidden],
// w2 [hidden, inter/tp]; tok_embeddings / norms / output whole. Every file's byte size
// is checked against what config.ini implies before it is read.
ModelWeights load_rank(const std::string& workspace, int rank);
// All ranks (for tests and for merging): result[r] = load_rank(workspace, r).
std::vector<ModelWeights> load_all_ranks(const std::string& workspace);
// The weights for an engine running with `tp` ranks, rank `rank`: refuses (naming both)
// when the workspace was converted for a different tensor_para_size.
ModelWeights load_for_engine(const std::string& workspace, int tp, int rank);

}  // namespace lmd::workspace
