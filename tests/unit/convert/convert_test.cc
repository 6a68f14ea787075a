// End-to-end conversion: sources -> workspace -> loaded ModelWeights.
#include "convert/convert.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "convert/load_model.h"
#include "convert/sources.h"
#include "convert/tp_split.h"
#include "convert_test_util.h"
#include "format/gguf.h"
#include "format/hf_config.h"
#include "kernels/common/half.h"

namespace lmd {
namespace {

using convert_test::TempDir;
using convert_test::TinySpec;
namespace fs = std::filesystem;

convert::ConvertSummary run(const std::string& name, const std::string& src, const std::string& dst, int tp = 1,
                            const std::string& fmt = "", int group = 0) {
  convert::ConvertOptions o;
  o.model_name = name;
  o.model_path = src;
  o.dst_path = dst;
  o.tp = tp;
  o.model_format = fmt;
  o.group_size = group;
  o.progress = false;
  return convert::convert_model(o);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Convert, SmolLM2GgufAndExportedHfHoldTheSameValues) {
  const std::string gguf_path = convert_test::smollm2_gguf();
  const std::string hf = convert_test::test_model("smollm2-hf");
  ASSERT_FALSE(hf.empty());
  TempDir a, b;
  run("smollm", gguf_path, a.path());
  run("smollm", hf, b.path());
  const ModelWeights wg = load_model_weights(a.path());
  const ModelWeights wh = load_model_weights(b.path());
  EXPECT_EQ(wg.config.weight_type, DType::kInt4);
  EXPECT_EQ(wh.config.weight_type, DType::kF32);
  EXPECT_EQ(wg.config.head_num, wh.config.head_num);
  EXPECT_EQ(wg.config.kv_head_num, wh.config.kv_head_num);
  EXPECT_EQ(wg.config.tie_word_embeddings, wh.config.tie_word_embeddings);
  EXPECT_EQ(wg.config.start_id, wh.config.start_id);
  EXPECT_EQ(wg.config.end_id, wh.config.end_id);
  EXPECT_EQ(wg.config.norm_eps, wh.config.norm_eps);
  EXPECT_EQ(wg.config.rope_theta, wh.config.rope_theta);
  convert_test::expect_weights_equal(wg, wh, /*storage=*/false);
}

TEST(Convert, SmolLM2Tp3ShardsConcatenateToTp1) {
  const std::string src = convert_test::smollm2_gguf();
  TempDir t1, t3;
  run("smollm", src, t1.path(), 1);
  const auto s3 = run("smollm", src, t3.path(), 3);
  EXPECT_EQ(s3.tp, 3);
  const auto ranks = workspace::load_all_ranks(t3.path());
  ASSERT_EQ(ranks.size(), 3u);
  EXPECT_EQ(ranks[2].layers[0].wq.rows(), 3 * 64);
  EXPECT_EQ(ranks[2].layers[0].wk.rows(), 64);
  EXPECT_EQ(ranks[2].layers[0].w2.cols(), 512);
  const ModelWeights one = workspace::load_rank(t1.path(), 0);
  convert_test::expect_weights_equal(one, convert::merge_ranks(ranks), /*storage=*/true);
  // And the tp 1 workspace holds exactly what the GGUF loader produced.
  convert_test::expect_weights_equal(convert::load_gguf_weights(src, false), one, /*storage=*/true);
}

TEST(Convert, SmolLM2Tp2IsAClearError) {
  TempDir d;
  const std::string e = error_of([&] { run("smollm", convert_test::smollm2_gguf(), d / "ws", 2); });
  EXPECT_NE(e.find("--tp 2: head_num 9 and kv_head_num 3 must both be divisible"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(d / "ws")) << "a failed conversion must not leave a workspace behind";
}

TEST(Convert, GgufTokenizerIsAVocabOnlyGguf) {
  const std::string src = convert_test::smollm2_gguf();
  TempDir d;
  run("smollm", src, d.path());
  auto orig = gguf::GgufFile::open(src);
  auto tok = gguf::GgufFile::open(workspace::tokenizer_dir(d.path()) + "/tokenizer.gguf");
  EXPECT_TRUE(tok->tensors().empty());
  EXPECT_EQ(tok->get_string_array("tokenizer.ggml.tokens"), orig->get_string_array("tokenizer.ggml.tokens"));
  EXPECT_EQ(tok->get_string_array("tokenizer.ggml.merges"), orig->get_string_array("tokenizer.ggml.merges"));
  EXPECT_EQ(tok->get_string("tokenizer.chat_template"), orig->get_string("tokenizer.chat_template"));
  EXPECT_EQ(tok->get_int("tokenizer.ggml.bos_token_id"), orig->get_int("tokenizer.ggml.bos_token_id"));
  EXPECT_EQ(tok->get_string("general.architecture"), "llama");
  EXPECT_EQ(tok->metadata().size(), orig->metadata().size());
}

TEST(Convert, TinyLlamaShardedF16) {
  const std::string src = convert_test::test_model("tiny-llama-spm");
  ASSERT_FALSE(src.empty());
  TempDir d;
  run("llama2", src, d.path(), 2);
  const auto ranks = workspace::load_all_ranks(d.path());
  const ModelWeights merged = convert::merge_ranks(ranks);
  const ModelWeights direct = load_model_weights(src);
  EXPECT_EQ(direct.config.weight_type, DType::kF16);
  EXPECT_EQ(merged.config.model_name, "llama2");
  convert_test::expect_weights_equal(direct, merged, /*storage=*/true);
  EXPECT_TRUE(fs::exists(workspace::tokenizer_dir(d.path()) + "/tokenizer.model"));
}

TEST(Convert, TinyInternLMWithBias) {
  const std::string src = convert_test::test_model("tiny-internlm");
  ASSERT_FALSE(src.empty());
  TempDir d;
  // InternLM v1 has a non-zero o_proj bias, which ModelWeights cannot carry yet
  // (LayerWeights has no `bo`): the conversion must say so, naming the tensor.
  const std::string e = error_of([&] { run("internlm-chat-7b", src, d / "ws"); });
  if (!e.empty()) {
    EXPECT_NE(e.find("self_attn.o_proj.bias is non-zero"), std::string::npos) << e;
    return;
  }
  const ModelWeights w = load_model_weights(d / "ws");
  EXPECT_TRUE(w.config.attn_bias);
  EXPECT_EQ(w.config.architecture, "internlm");
  convert_test::expect_weights_equal(load_model_weights(src), w, true);
}

TEST(Convert, HfQkvBiasF16RoundTrip) {
  TinySpec s;
  s.hf_arch = "Qwen2ForCausalLM";
  s.dtype = DType::kF16;
  s.bias = true;
  s.tie = true;
  const ModelWeights w = convert_test::random_weights(s, 11);
  TempDir src, dst;
  convert_test::write_hf_dir(w, s, src.path());
  const auto sum = run("qwen", src.path(), dst.path(), 2);
  EXPECT_EQ(sum.model_format, "hf");
  const ModelWeights back = convert::merge_ranks(workspace::load_all_ranks(dst.path()));
  EXPECT_TRUE(back.config.attn_bias);
  EXPECT_TRUE(back.config.tie_word_embeddings);
  EXPECT_TRUE(back.output.empty());
  convert_test::expect_weights_equal(w, back, /*storage=*/true);
  EXPECT_TRUE(fs::exists(workspace::tokenizer_dir(dst.path()) + "/tokenizer.json"));
}

TEST(Convert, ForceReplacesAndNonEmptyRefuses) {
  TinySpec s;
  TempDir src, dst;
  convert_test::write_hf_dir(convert_test::random_weights(s, 12), s, src.path());
  run("tiny", src.path(), dst.path());
  const std::string e = error_of([&] { run("tiny", src.path(), dst.path()); });
  EXPECT_EQ(e, "destination " + dst.path() + " is not empty (use --force to overwrite it)");
  convert::ConvertOptions o;
  o.model_name = "tiny2";
  o.model_path = src.path();
  o.dst_path = dst.path();
  o.force = true;
  o.progress = false;
  convert::convert_model(o);
  EXPECT_EQ(load_model_weights(dst.path()).config.model_name, "tiny2");
}

// ---- AWQ: a checkpoint packed here in AutoAWQ's GEMM layout ----

constexpr int kAwqOrder[8] = {0, 2, 4, 6, 1, 3, 5, 7};

struct AwqLinear {
  int64_t out, in;
  std::vector<uint8_t> q;       // [out][in]
  std::vector<uint8_t> zero;    // [in/g][out]
  std::vector<uint16_t> scale;  // [in/g][out] fp16
};

// Packs [rows][out] nibbles into int32 [rows, out/8] words, AutoAWQ order.
std::vector<int32_t> awq_pack(int64_t rows, int64_t out, const std::function<int(int64_t, int64_t)>& val) {
  std::vector<int32_t> p(static_cast<size_t>(rows * out / 8), 0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t pc = 0; pc < out / 8; ++pc) {
      uint32_t w = 0;
      for (int k = 0; k < 8; ++k) w |= static_cast<uint32_t>(val(r, 8 * pc + kAwqOrder[k])) << (4 * k);
      p[r * (out / 8) + pc] = static_cast<int32_t>(w);
    }
  return p;
}

TEST(Convert, AwqGemmCheckpoint) {
  TinySpec s;
  s.inter = 128;
  const int g = 32;
  std::mt19937 rng(13);
  ModelWeights dense = convert_test::random_weights(s, 14);  // norms, embeddings, lm_head
  TempDir src, dst;
  std::vector<safetensors::TensorToWrite> ts;
  std::vector<std::vector<int32_t>> keep_i32;
  std::vector<std::vector<uint16_t>> keep_f16;
  std::map<std::string, AwqLinear> lin;
  auto add_dense = [&](const std::string& n, const WeightTensor& t) {
    ts.push_back({n, safetensors::StDType::F32, t.shape, t.data.data(), t.data.size()});
  };
  add_dense("model.embed_tokens.weight", dense.tok_embeddings);
  add_dense("model.norm.weight", dense.norm);
  add_dense("lm_head.weight", dense.output);
  const ModelConfig& c = dense.config;
  keep_i32.reserve(64);
  keep_f16.reserve(64);
  for (int i = 0; i < c.num_layer; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    add_dense(p + "input_layernorm.weight", dense.layers[i].attention_norm);
    add_dense(p + "post_attention_layernorm.weight", dense.layers[i].ffn_norm);
    const std::pair<std::string, std::pair<int64_t, int64_t>> shapes[] = {
        {"self_attn.q_proj", {c.q_dim(), 64}}, {"self_attn.k_proj", {c.kv_dim(), 64}},
        {"self_attn.v_proj", {c.kv_dim(), 64}}, {"self_attn.o_proj", {64, c.q_dim()}},
        {"mlp.gate_proj", {128, 64}},          {"mlp.up_proj", {128, 64}},
        {"mlp.down_proj", {64, 128}}};
    for (const auto& [name, oi] : shapes) {
      AwqLinear L{oi.first, oi.second, {}, {}, {}};
      std::uniform_int_distribution<int> nib(0, 15);
      std::uniform_real_distribution<float> sc(0.001f, 0.05f);
      L.q.resize(L.out * L.in);
      for (auto& v : L.q) v = static_cast<uint8_t>(nib(rng));
      L.zero.resize(L.in / g * L.out);
      for (auto& v : L.zero) v = static_cast<uint8_t>(nib(rng));
      L.scale.resize(L.in / g * L.out);
      for (auto& v : L.scale) v = f32_to_fp16(sc(rng));
      keep_i32.push_back(awq_pack(L.in, L.out, [&](int64_t r, int64_t o) { return L.q[o * L.in + r]; }));
      ts.push_back({p + name + ".qweight", safetensors::StDType::I32, {L.in, L.out / 8}, keep_i32.back().data(),
                    keep_i32.back().size() * 4});
      keep_i32.push_back(awq_pack(L.in / g, L.out, [&](int64_t r, int64_t o) { return L.zero[r * L.out + o]; }));
      ts.push_back({p + name + ".qzeros", safetensors::StDType::I32, {L.in / g, L.out / 8}, keep_i32.back().data(),
                    keep_i32.back().size() * 4});
      keep_f16.push_back(L.scale);
      ts.push_back({p + name + ".scales", safetensors::StDType::F16, {L.in / g, L.out}, keep_f16.back().data(),
                    keep_f16.back().size() * 2});
      lin[p + name] = std::move(L);
    }
  }
  safetensors::write_file(src / "model.safetensors", ts);
  nlohmann::json cfg = convert_test::hf_config_json(s);
  cfg["quantization_config"] = {{"quant_method", "awq"}, {"bits", 4}, {"group_size", g}, {"version", "gemm"},
                                {"zero_point", true}};
  convert_test::write_json(src / "config.json", cfg);
  convert_test::write_json(src / "tokenizer.json", {{"version", "1.0"}});

  EXPECT_EQ(detect_model_format(src.path()), "awq");
  const std::string e = error_of([&] { run("tiny", src.path(), dst / "bad", 1, "awq", 7); });
  EXPECT_NE(e.find("--group-size 7 does not match quantization_config.group_size 32"), std::string::npos) << e;

  run("tiny", src.path(), dst / "ws", 2, "", g);
  const ModelWeights w = convert::merge_ranks(workspace::load_all_ranks(dst / "ws"));
  EXPECT_EQ(w.config.weight_type, DType::kInt4);
  EXPECT_EQ(w.config.group_size, g);
  const AwqLinear& L = lin["model.layers.1.mlp.down_proj"];
  const WeightTensor& t = w.layers[1].w2;
  ASSERT_EQ(t.dtype, DType::kInt4);
  ASSERT_EQ(t.shape, (std::vector<int64_t>{64, 128}));
  const std::vector<float> f = t.to_f32();
  for (int64_t o = 0; o < L.out; ++o) {
    for (int64_t i = 0; i < L.in; ++i) {
      const size_t gi = static_cast<size_t>(i / g * L.out + o);
      const float sc = fp16_to_f32(L.scale[gi]);
      const float mn = fp16_to_f32(f32_to_fp16(-static_cast<float>(L.zero[gi]) * sc));
      const float want = static_cast<float>(L.q[o * L.in + i]) * sc + mn;
      ASSERT_EQ(f[o * L.in + i], want) << "w2[" << o << "," << i << "]";
      // AutoAWQ's own formula, up to the fp16 rounding of min.
      ASSERT_NEAR(f[o * L.in + i], (L.q[o * L.in + i] - L.zero[gi]) * sc, 0.05f * 16 / 1024);
    }
  }
  convert_test::expect_identical(w.layers[1].ffn_norm, dense.layers[1].ffn_norm, "ffn_norm");
  convert_test::expect_identical(w.tok_embeddings, dense.tok_embeddings, "tok_embeddings");
}

}  // namespace
}  // namespace lmd
