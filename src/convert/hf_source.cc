// HF safetensors checkpoint (Llama / Mistral / InternLM / Qwen2 names) -> ModelWeights.
#include <cstring>

#include "core/error.h"
#include "convert/hf_names.h"
#include "convert/sources.h"
#include "format/safetensors.h"
#include "kernels/common/half.h"

namespace lmd::convert {
namespace {

using safetensors::Checkpoint;
using safetensors::StDType;

void check_shape(const safetensors::Tensor& t, const std::vector<int64_t>& want, const std::string& dir) {
  if (t.shape == want) return;
  std::string got, exp;
  for (int64_t d : t.shape) got += (got.empty() ? "" : ",") + std::to_string(d);
  for (int64_t d : want) exp += (exp.empty() ? "" : ",") + std::to_string(d);
  throw Error(dir + ": tensor " + t.name + " has shape [" + got + "], expected [" + exp + "] from config.json");
}

}  // namespace

std::vector<float> hf_tensor_f32(const safetensors::Tensor& t) {
  const int64_t n = t.numel();
  std::vector<float> out(static_cast<size_t>(n));
  switch (t.dtype) {
    case StDType::F32:
      std::memcpy(out.data(), t.data, n * 4);
      break;
    case StDType::F16:
    case StDType::BF16: {
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, t.data + 2 * i, 2);
        out[i] = t.dtype == StDType::F16 ? fp16_to_f32(h) : bf16_to_f32(h);
      }
      break;
    }
    default:
      throw Error(t.file + ": tensor " + t.name + " has dtype " + safetensors::st_dtype_name(t.dtype) +
                  " (expected F32, F16 or BF16)");
  }
  return out;
}

WeightTensor hf_tensor(const Checkpoint& ck, const std::string& name, const std::vector<int64_t>& shape,
                       bool force_f32) {
  const safetensors::Tensor& t = ck.get(name);
  check_shape(t, shape, ck.dir());
  if (!force_f32 && (t.dtype == StDType::F16 || t.dtype == StDType::BF16 || t.dtype == StDType::F32)) {
    WeightTensor w;
    w.dtype = t.dtype == StDType::F16 ? DType::kF16 : t.dtype == StDType::BF16 ? DType::kBF16 : DType::kF32;
    w.shape = shape;
    w.data.assign(t.data, t.data + t.nbytes);
    return w;
  }
  const std::vector<float> v = hf_tensor_f32(t);
  return make_dense(DType::kF32, shape, v.data());
}

void load_hf_common(const Checkpoint& ck, ModelWeights& w) {
  const ModelConfig& c = w.config;
  const int64_t hidden = c.hidden_units, vocab = c.vocab_size;
  w.tok_embeddings = hf_tensor(ck, "model.embed_tokens.weight", {vocab, hidden}, false);
  w.norm = hf_tensor(ck, "model.norm.weight", {hidden}, true);
  if (!c.tie_word_embeddings) {
    LMD_CHECK(ck.has("lm_head.weight"))
        << ck.dir() << ": no lm_head.weight and config.json does not set tie_word_embeddings";
    w.output = hf_tensor(ck, "lm_head.weight", {vocab, hidden}, false);
  }
  w.layers.resize(c.num_layer);
  for (int i = 0; i < c.num_layer; ++i) {
    const std::string p = hf_layer_prefix(i);
    LayerWeights& L = w.layers[i];
    L.attention_norm = hf_tensor(ck, p + "input_layernorm.weight", {hidden}, true);
    L.ffn_norm = hf_tensor(ck, p + "post_attention_layernorm.weight", {hidden}, true);
    if (c.attn_bias) {
      L.bq = hf_tensor(ck, p + "self_attn.q_proj.bias", {c.q_dim()}, true);
      L.bk = hf_tensor(ck, p + "self_attn.k_proj.bias", {c.kv_dim()}, true);
      L.bv = hf_tensor(ck, p + "self_attn.v_proj.bias", {c.kv_dim()}, true);
    }
    // InternLM v1 has an output-projection bias.
    const std::string bo = p + "self_attn.o_proj.bias";
    if (ck.has(bo)) L.bo = hf_tensor(ck, bo, {hidden}, true);
  }
}

ModelWeights load_hf_weights(const std::string& dir, const HfModelInfo& info) {
  auto ck = Checkpoint::open_dir(dir);
  ModelWeights w;
  w.config = info.config;
  const ModelConfig& c = w.config;
  load_hf_common(*ck, w);
  const int64_t hidden = c.hidden_units, inter = c.inter_size;
  for (int i = 0; i < c.num_layer; ++i) {
    const std::string p = hf_layer_prefix(i);
    LayerWeights& L = w.layers[i];
    L.wq = hf_tensor(*ck, p + "self_attn.q_proj.weight", {c.q_dim(), hidden}, false);
    L.wk = hf_tensor(*ck, p + "self_attn.k_proj.weight", {c.kv_dim(), hidden}, false);
    L.wv = hf_tensor(*ck, p + "self_attn.v_proj.weight", {c.kv_dim(), hidden}, false);
    L.wo = hf_tensor(*ck, p + "self_attn.o_proj.weight", {hidden, c.q_dim()}, false);
    L.w1 = hf_tensor(*ck, p + "mlp.gate_proj.weight", {inter, hidden}, false);
    L.w3 = hf_tensor(*ck, p + "mlp.up_proj.weight", {inter, hidden}, false);
    L.w2 = hf_tensor(*ck, p + "mlp.down_proj.weight", {hidden, inter}, false);
  }
  w.config.weight_type = c.num_layer > 0 ? w.layers[0].wq.dtype : w.tok_embeddings.dtype;
  w.config.group_size = 0;
  return w;
}

}  // namespace lmd::convert
