// Shared by the HF and AWQ sources: tensor names and the dense-tensor reader.
#pragma once

#include <string>
#include <vector>

#include "format/safetensors.h"
#include "core/weights.h"

namespace lmd::convert {

inline std::string hf_layer_prefix(int i) { return "model.layers." + std::to_string(i) + "."; }

// Values of an F32/F16/BF16 safetensors tensor as fp32 (errors name file and tensor).
std::vector<float> hf_tensor_f32(const safetensors::Tensor& t);
// `name` checked against `shape`; kept in its dtype, or fp32 when force_f32.
WeightTensor hf_tensor(const safetensors::Checkpoint& ck, const std::string& name,
                       const std::vector<int64_t>& shape, bool force_f32);
// Embeddings, final norm, lm_head, per-layer norms and q/k/v biases (w.config set).
void load_hf_common(const safetensors::Checkpoint& ck, ModelWeights& w);

}  // namespace lmd::convert
