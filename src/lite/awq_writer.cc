#include "lite/awq_writer.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <list>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "convert/gguf_writer.h"
#include "format/gguf.h"
#include "format/safetensors.h"
#include "format/workspace.h"
#include "kernels/common/half.h"
#include "lite/awq_pack.h"

namespace fs = std::filesystem;

namespace lmd::lite {
namespace {

// Our int4 layout (q * scale + min, min = fp16(-zero * scale)) back to AWQ codes.
QuantizedLinear from_int4(const WeightTensor& t, const std::string& name) {
  LMD_CHECK(t.dtype == DType::kInt4 && t.group_size > 0) << "awq writer: " << name << " is not an int4 tensor";
  QuantizedLinear ql;
  ql.out = t.rows();
  ql.in = t.cols();
  ql.group = t.group_size;
  const int64_t groups = ql.in / ql.group;
  ql.q.resize(static_cast<size_t>(ql.out * ql.in));
  for (int64_t i = 0; i < ql.out * ql.in; ++i) ql.q[i] = (i & 1) ? t.data[i / 2] >> 4 : t.data[i / 2] & 15;
  ql.zeros.resize(static_cast<size_t>(ql.out * groups));
  ql.scales.resize(static_cast<size_t>(ql.out * groups));
  for (int64_t i = 0; i < ql.out * groups; ++i) {
    uint16_t s, m;
    std::memcpy(&s, t.aux.data() + i * 4, 2);
    std::memcpy(&m, t.aux.data() + i * 4 + 2, 2);
    ql.scales[i] = s;
    ql.zeros[i] = static_cast<uint8_t>(std::rint(-fp16_to_f32(m) / fp16_to_f32(s)));
  }
  return ql;
}

class TensorSink {
 public:
  void f16(const std::string& name, const WeightTensor& t) {
    const std::vector<float> v = t.to_f32();
    std::vector<uint16_t> h(v.size());
    for (size_t i = 0; i < v.size(); ++i) h[i] = f32_to_fp16(v[i]);
    std::vector<int64_t> shape = t.shape;
    u16_.push_back(std::move(h));
    out_.push_back({name, safetensors::StDType::F16, shape, u16_.back().data(), u16_.back().size() * 2});
  }
  void awq(const std::string& base, const WeightTensor& t) {
    const QuantizedLinear ql = from_int4(t, base);
    AwqPacked p = pack_awq(ql);
    const int64_t words = ql.out / 8, groups = ql.in / ql.group;
    i32_.push_back(std::move(p.qweight));
    out_.push_back({base + ".qweight", safetensors::StDType::I32, {ql.in, words}, i32_.back().data(), i32_.back().size() * 4});
    i32_.push_back(std::move(p.qzeros));
    out_.push_back({base + ".qzeros", safetensors::StDType::I32, {groups, words}, i32_.back().data(), i32_.back().size() * 4});
    u16_.push_back(std::move(p.scales));
    out_.push_back({base + ".scales", safetensors::StDType::F16, {groups, ql.out}, u16_.back().data(), u16_.back().size() * 2});
  }
  const std::vector<safetensors::TensorToWrite>& tensors() const { return out_; }

 private:
  std::list<std::vector<uint16_t>> u16_;  // std::list: stable addresses for the writer
  std::list<std::vector<int32_t>> i32_;
  std::vector<safetensors::TensorToWrite> out_;
};

nlohmann::json config_from_model(const ModelConfig& c) {
  return {{"architectures", {c.architecture == "internlm" ? "InternLMForCausalLM" : "LlamaForCausalLM"}},
          {"model_type", c.architecture == "internlm" ? "internlm" : "llama"},
          {"hidden_size", c.hidden_units},
          {"intermediate_size", c.inter_size},
          {"num_attention_heads", c.head_num},
          {"num_key_value_heads", c.kv_head_num},
          {"num_hidden_layers", c.num_layer},
          {"head_dim", c.size_per_head},
          {"rms_norm_eps", c.norm_eps},
          {"rope_theta", c.rope_theta},
          {"vocab_size", c.vocab_size},
          {"max_position_embeddings", c.max_position_embeddings},
          {"tie_word_embeddings", c.tie_word_embeddings},
          {"bos_token_id", c.start_id},
          {"eos_token_id", c.end_id},
          {"hidden_act", "silu"}};
}

}  // namespace

void write_awq_checkpoint(const std::string& source_model, const ModelWeights& w, const std::string& out_dir) {
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  LMD_CHECK(!ec) << "cannot create " << out_dir << ": " << ec.message();
  const ModelConfig& c = w.config;
  TensorSink sink;
  sink.f16("model.embed_tokens.weight", w.tok_embeddings);
  sink.f16("model.norm.weight", w.norm);
  if (!c.tie_word_embeddings) sink.f16("lm_head.weight", w.output);
  for (int i = 0; i < c.num_layer; ++i) {
    const LayerWeights& L = w.layers[i];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    sink.f16(p + "input_layernorm.weight", L.attention_norm);
    sink.f16(p + "post_attention_layernorm.weight", L.ffn_norm);
    sink.awq(p + "self_attn.q_proj", L.wq);
    sink.awq(p + "self_attn.k_proj", L.wk);
    sink.awq(p + "self_attn.v_proj", L.wv);
    sink.awq(p + "self_attn.o_proj", L.wo);
    sink.awq(p + "mlp.gate_proj", L.w1);
    sink.awq(p + "mlp.up_proj", L.w3);
    sink.awq(p + "mlp.down_proj", L.w2);
    if (!L.bq.empty()) {
      sink.f16(p + "self_attn.q_proj.bias", L.bq);
      sink.f16(p + "self_attn.k_proj.bias", L.bk);
      sink.f16(p + "self_attn.v_proj.bias", L.bv);
    }
    if (!L.bo.empty()) sink.f16(p + "self_attn.o_proj.bias", L.bo);
  }
  safetensors::write_file(out_dir + "/model.safetensors", sink.tensors(), {{"format", "pt"}});

  const bool hf_source = fs::is_directory(source_model, ec) && fs::exists(source_model + "/config.json");
  nlohmann::json cfg;
  if (hf_source) {
    std::ifstream in(source_model + "/config.json");
    cfg = nlohmann::json::parse(in, nullptr, false);
    LMD_CHECK(cfg.is_object()) << source_model << "/config.json: not a JSON object";
  } else {
    cfg = config_from_model(c);
  }
  cfg["torch_dtype"] = "float16";
  cfg["quantization_config"] = {{"quant_method", "awq"}, {"version", "gemm"}, {"bits", 4},
                                {"group_size", c.group_size}, {"zero_point", true}};
  std::ofstream out(out_dir + "/config.json");
  out << cfg.dump(2) << "\n";
  LMD_CHECK(out.good()) << "cannot write " << out_dir << "/config.json";

  // The tokenizer: an HF source's files; a workspace's triton_models/tokenizer files (HF
  // files or tokenizer.gguf); a GGUF's vocabulary as tokenizer.gguf. `convert` and the
  // loader read all of them from the checkpoint folder.
  const bool ws_source = !hf_source && workspace::is_workspace(source_model);
  if (hf_source || ws_source) {
    const std::string tok_dir = hf_source ? source_model : workspace::tokenizer_dir(source_model);
    for (const char* f : {"tokenizer.json", "tokenizer.model", "tokenizer.gguf", "tokenizer_config.json",
                          "special_tokens_map.json", "generation_config.json"}) {
      const fs::path src = fs::path(tok_dir) / f;
      if (fs::exists(src)) {
        fs::copy_file(src, fs::path(out_dir) / f, fs::copy_options::overwrite_existing, ec);
        LMD_CHECK(!ec) << "cannot copy " << src.string() << " to " << out_dir << ": " << ec.message();
      }
    }
  } else if (fs::is_regular_file(source_model, ec)) {
    const auto g = gguf::GgufFile::open(source_model);
    convert::write_vocab_gguf(*g, out_dir + "/tokenizer.gguf");
    // The GGUF's Jinja chat template, where an HF folder keeps it, so `chat` on the
    // checkpoint picks the model's template as it does on the .gguf.
    const std::string tpl = g->get_string_or("tokenizer.chat_template", "");
    if (!tpl.empty()) {
      std::ofstream tc(out_dir + "/tokenizer_config.json");
      tc << nlohmann::json{{"chat_template", tpl}}.dump(2) << "\n";
      LMD_CHECK(tc.good()) << "cannot write " << out_dir << "/tokenizer_config.json";
    }
  }
  bool has_vocab = false;
  for (const char* f : {"tokenizer.json", "tokenizer.model", "tokenizer.gguf"})
    has_vocab |= fs::is_regular_file(fs::path(out_dir) / f, ec);
  LMD_CHECK_KIND(has_vocab, kNotFound) << "auto_awq: no tokenizer found in " << source_model
                                       << " to copy into " << out_dir
                                       << " (expected tokenizer.json, tokenizer.model or a .gguf source)";
}

}  // namespace lmd::lite
