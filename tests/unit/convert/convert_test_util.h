// Helpers shared by the convert / workspace tests: temp dirs, tiny random models written
// as HF checkpoints, tensor comparison, running the lmdeploy binary.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "format/safetensors.h"
#include "core/weights.h"

namespace lmd::convert_test {

namespace fs = std::filesystem;

// A fresh directory under the system temp dir, removed by the destructor.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "lmd_convert_XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data()) ? tmpl : "";
    EXPECT_FALSE(path_.empty()) << "mkdtemp failed";
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& s) const { return path_ + "/" + s; }

 private:
  std::string path_;
};

// $LMD_TEST_MODELS/<name> (default <source>/build/test-models, as the script does);
// fails the test, saying how to make it, when missing.
inline std::string test_model(const std::string& name) {
  const char* env = std::getenv("LMD_TEST_MODELS");
  const std::string dir = env && *env ? env : std::string(LMDEPLOY_SOURCE_DIR) + "/build/test-models";
  const std::string p = dir + "/" + name;
  if (!fs::exists(p + "/config.json")) {
    ADD_FAILURE() << "test model " << p << " missing: run tools/prepare_test_models.sh " << dir;
    return "";
  }
  return p;
}

inline std::string smollm2_gguf() {
  const char* env = std::getenv("LMD_MODEL_PATH");
  const std::string p = env && *env ? env : std::string(std::getenv("HOME") ? std::getenv("HOME") : "") +
                                                 "/.cache/lmdeploy/SmolLM2-135M-Instruct.Q4_1.gguf";
  if (!fs::exists(p)) ADD_FAILURE() << "SmolLM2 GGUF " << p << " missing: run tools/fetch_model.sh";
  return p;
}

struct TinySpec {
  std::string hf_arch = "LlamaForCausalLM";
  int hidden = 64, heads = 4, kv_heads = 2, inter = 96, layers = 2, vocab = 40;
  bool bias = false;
  bool tie = false;
  DType dtype = DType::kF32;  // matrices (norms/biases are written in this dtype too)
};

inline ModelConfig tiny_config(const TinySpec& s) {
  ModelConfig c;
  c.architecture = s.hf_arch == "InternLMForCausalLM" ? "internlm" : "llama";
  c.hidden_units = s.hidden;
  c.head_num = s.heads;
  c.kv_head_num = s.kv_heads;
  c.size_per_head = s.hidden / s.heads;
  c.rotary_embedding = c.size_per_head;
  c.inter_size = s.inter;
  c.num_layer = s.layers;
  c.vocab_size = s.vocab;
  c.attn_bias = s.bias;
  c.tie_word_embeddings = s.tie;
  c.weight_type = s.dtype;
  c.model_name = "tiny";
  return c;
}

inline WeightTensor random_tensor(std::mt19937& rng, DType dt, std::vector<int64_t> shape) {
  std::normal_distribution<float> nd(0.0f, 0.5f);
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = nd(rng);
  return make_dense(dt, std::move(shape), v.data());
}

// Dense random weights; norms and biases fp32 (the canonical form loaders produce).
inline ModelWeights random_weights(const TinySpec& s, uint32_t seed) {
  std::mt19937 rng(seed);
  ModelWeights w;
  w.config = tiny_config(s);
  const ModelConfig& c = w.config;
  const int64_t h = c.hidden_units, q = c.q_dim(), kv = c.kv_dim(), in = c.inter_size;
  w.tok_embeddings = random_tensor(rng, s.dtype, {c.vocab_size, h});
  w.norm = random_tensor(rng, DType::kF32, {h});
  if (!s.tie) w.output = random_tensor(rng, s.dtype, {c.vocab_size, h});
  w.layers.resize(c.num_layer);
  for (LayerWeights& l : w.layers) {
    l.attention_norm = random_tensor(rng, DType::kF32, {h});
    l.ffn_norm = random_tensor(rng, DType::kF32, {h});
    l.wq = random_tensor(rng, s.dtype, {q, h});
    l.wk = random_tensor(rng, s.dtype, {kv, h});
    l.wv = random_tensor(rng, s.dtype, {kv, h});
    if (s.bias) {
      l.bq = random_tensor(rng, DType::kF32, {q});
      l.bk = random_tensor(rng, DType::kF32, {kv});
      l.bv = random_tensor(rng, DType::kF32, {kv});
    }
    l.wo = random_tensor(rng, s.dtype, {h, q});
    l.w1 = random_tensor(rng, s.dtype, {in, h});
    l.w3 = random_tensor(rng, s.dtype, {in, h});
    l.w2 = random_tensor(rng, s.dtype, {h, in});
  }
  return w;
}

inline safetensors::StDType st_dtype(DType d) {
  switch (d) {
    case DType::kF16: return safetensors::StDType::F16;
    case DType::kBF16: return safetensors::StDType::BF16;
    default: return safetensors::StDType::F32;
  }
}

inline void write_json(const std::string& path, const nlohmann::json& j) {
  std::ofstream f(path);
  f << j.dump(2);
}

inline nlohmann::json hf_config_json(const TinySpec& s) {
  nlohmann::json j = {{"architectures", {s.hf_arch}},
                      {"hidden_size", s.hidden},
                      {"num_attention_heads", s.heads},
                      {"num_key_value_heads", s.kv_heads},
                      {"intermediate_size", s.inter},
                      {"num_hidden_layers", s.layers},
                      {"vocab_size", s.vocab},
                      {"rms_norm_eps", 1e-5},
                      {"rope_theta", 10000.0},
                      {"max_position_embeddings", 256},
                      {"bos_token_id", 1},
                      {"eos_token_id", 2},
                      {"tie_word_embeddings", s.tie}};
  if (s.hf_arch == "InternLMForCausalLM") j["bias"] = s.bias;
  return j;
}

// `w` as an HF checkpoint directory: model.safetensors + config.json + a stub tokenizer.json.
inline void write_hf_dir(const ModelWeights& w, const TinySpec& s, const std::string& dir) {
  fs::create_directories(dir);
  std::vector<safetensors::TensorToWrite> ts;
  auto add = [&](const std::string& name, const WeightTensor& t) {
    ts.push_back({name, st_dtype(t.dtype), t.shape, t.data.data(), t.data.size()});
  };
  add("model.embed_tokens.weight", w.tok_embeddings);
  add("model.norm.weight", w.norm);
  if (!w.output.empty()) add("lm_head.weight", w.output);
  for (size_t i = 0; i < w.layers.size(); ++i) {
    const LayerWeights& l = w.layers[i];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    add(p + "input_layernorm.weight", l.attention_norm);
    add(p + "post_attention_layernorm.weight", l.ffn_norm);
    add(p + "self_attn.q_proj.weight", l.wq);
    add(p + "self_attn.k_proj.weight", l.wk);
    add(p + "self_attn.v_proj.weight", l.wv);
    add(p + "self_attn.o_proj.weight", l.wo);
    if (!l.bq.empty()) {
      add(p + "self_attn.q_proj.bias", l.bq);
      add(p + "self_attn.k_proj.bias", l.bk);
      add(p + "self_attn.v_proj.bias", l.bv);
    }
    add(p + "mlp.gate_proj.weight", l.w1);
    add(p + "mlp.up_proj.weight", l.w3);
    add(p + "mlp.down_proj.weight", l.w2);
  }
  safetensors::write_file(dir + "/model.safetensors", ts);
  write_json(dir + "/config.json", hf_config_json(s));
  write_json(dir + "/tokenizer.json", {{"version", "1.0"}, {"model", {{"type", "BPE"}}}});
}

// Same shape, dtype-independent values: compares to_f32() bit for bit.
inline void expect_same_values(const WeightTensor& a, const WeightTensor& b, const std::string& what) {
  ASSERT_EQ(a.shape, b.shape) << what;
  const std::vector<float> fa = a.to_f32(), fb = b.to_f32();
  ASSERT_EQ(fa.size(), fb.size()) << what;
  for (size_t i = 0; i < fa.size(); ++i) {
    if (std::memcmp(&fa[i], &fb[i], 4) != 0) {
      ADD_FAILURE() << what << ": element " << i << " differs: " << fa[i] << " vs " << fb[i];
      return;
    }
  }
}

// Same storage: dtype, group, bytes.
inline void expect_identical(const WeightTensor& a, const WeightTensor& b, const std::string& what) {
  EXPECT_EQ(a.dtype, b.dtype) << what;
  EXPECT_EQ(a.shape, b.shape) << what;
  EXPECT_EQ(a.group_size, b.group_size) << what;
  EXPECT_TRUE(a.data == b.data) << what << ": data bytes differ";
  EXPECT_TRUE(a.aux == b.aux) << what << ": aux bytes differ";
}

// Every tensor of two ModelWeights, by to_f32 values (identical storage when `storage`).
inline void expect_weights_equal(const ModelWeights& a, const ModelWeights& b, bool storage) {
  auto cmp = [&](const WeightTensor& x, const WeightTensor& y, const std::string& n) {
    if (storage) expect_identical(x, y, n);
    else expect_same_values(x, y, n);
  };
  cmp(a.tok_embeddings, b.tok_embeddings, "tok_embeddings");
  cmp(a.norm, b.norm, "norm");
  ASSERT_EQ(a.output.empty(), b.output.empty());
  if (!a.output.empty()) cmp(a.output, b.output, "output");
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (size_t i = 0; i < a.layers.size(); ++i) {
    const LayerWeights &x = a.layers[i], &y = b.layers[i];
    const std::string p = "layer " + std::to_string(i) + " ";
    cmp(x.attention_norm, y.attention_norm, p + "attention_norm");
    cmp(x.ffn_norm, y.ffn_norm, p + "ffn_norm");
    cmp(x.wq, y.wq, p + "wq");
    cmp(x.wk, y.wk, p + "wk");
    cmp(x.wv, y.wv, p + "wv");
    ASSERT_EQ(x.bq.empty(), y.bq.empty()) << p << "bias presence";
    if (!x.bq.empty()) {
      cmp(x.bq, y.bq, p + "bq");
      cmp(x.bk, y.bk, p + "bk");
      cmp(x.bv, y.bv, p + "bv");
    }
    cmp(x.wo, y.wo, p + "wo");
    ASSERT_EQ(x.bo.empty(), y.bo.empty()) << p << "o_proj bias presence";
    if (!x.bo.empty()) cmp(x.bo, y.bo, p + "bo");
    cmp(x.w1, y.w1, p + "w1");
    cmp(x.w3, y.w3, p + "w3");
    cmp(x.w2, y.w2, p + "w2");
  }
}

// Runs `lmdeploy ARGS` (stderr merged into the output); returns the exit status.
inline int run_lmdeploy(const std::string& args, std::string* output) {
  const char* env = std::getenv("LMD_BINARY");
  const std::string bin = env && *env ? env : LMD_BINARY;
  FILE* p = ::popen((bin + " " + args + " 2>&1").c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  output->clear();
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) output->append(buf, n);
  const int st = ::pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// Lines of text that are not empty.
inline int count_lines(const std::string& s) {
  int n = 0;
  bool any = false;
  for (char c : s) {
    if (c == '\n') {
      n += any;
      any = false;
    } else {
      any = true;
    }
  }
  return n + any;
}

}  // namespace lmd::convert_test
