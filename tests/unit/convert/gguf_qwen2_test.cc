// GGUF qwen2 -> ModelWeights: the tiny random Qwen2 (tools/make_tiny_model.py --arch qwen2
// --gguf, written with the gguf package in llama.cpp's naming) against the same weights as HF
// safetensors, and the real Qwen2.5-Coder-0.5B Q4_K_M (skipped, saying so, when not fetched)
// against the formats library's reference dequantisation (bit-exact with the gguf package).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "common/paths.h"
#include "convert/sources.h"
#include "convert_test_util.h"
#include "core/error.h"
#include "format/gguf.h"
#include "format/hf_config.h"

namespace lmd {
namespace {

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(GgufQwen2, TinyGgufEqualsTinyHf) {
  const std::string dir = convert_test::test_model("tiny-qwen2");
  ASSERT_FALSE(dir.empty());
  const ModelWeights g = convert::load_gguf_weights(dir + "/tiny-qwen2.gguf", false);
  const ModelWeights h = convert::load_hf_weights(dir, parse_hf_config(dir));
  EXPECT_EQ(g.config.architecture, "qwen2");
  EXPECT_EQ(h.config.architecture, "qwen2");
  for (const ModelConfig* c : {&g.config, &h.config}) {
    EXPECT_EQ(c->head_num, 4);
    EXPECT_EQ(c->kv_head_num, 2);
    EXPECT_TRUE(c->attn_bias);
    EXPECT_FALSE(c->tie_word_embeddings);
    EXPECT_FLOAT_EQ(c->rope_theta, 1e6f);
    EXPECT_EQ(c->rope_pairing, RopePairing::kHalfSplit);
  }
  // qwen2's GGUF rows are HF's: no permutation to undo, so every tensor is bit-identical.
  ASSERT_EQ(g.layers.size(), h.layers.size());
  for (size_t i = 0; i < g.layers.size(); ++i) {
    const LayerWeights &a = g.layers[i], &b = h.layers[i];
    EXPECT_TRUE(same_bits(a.wq.to_f32(), b.wq.to_f32())) << i;
    EXPECT_TRUE(same_bits(a.wk.to_f32(), b.wk.to_f32())) << i;
    EXPECT_TRUE(same_bits(a.bq.to_f32(), b.bq.to_f32())) << i;
    EXPECT_TRUE(same_bits(a.bk.to_f32(), b.bk.to_f32())) << i;
    EXPECT_TRUE(same_bits(a.bv.to_f32(), b.bv.to_f32())) << i;
    EXPECT_TRUE(a.bo.empty() && b.bo.empty()) << i;
    EXPECT_TRUE(same_bits(a.w2.to_f32(), b.w2.to_f32())) << i;
  }
  EXPECT_TRUE(same_bits(g.output.to_f32(), h.output.to_f32()));
}

TEST(GgufQwen2, KeepingTheGgufLayoutChangesNothing) {
  const std::string dir = convert_test::test_model("tiny-qwen2");
  ASSERT_FALSE(dir.empty());
  const ModelWeights a = convert::load_gguf_weights(dir + "/tiny-qwen2.gguf", false);
  const ModelWeights b = convert::load_gguf_weights(dir + "/tiny-qwen2.gguf", true);
  EXPECT_EQ(b.config.rope_pairing, RopePairing::kHalfSplit);
  EXPECT_TRUE(same_bits(a.layers[1].wq.to_f32(), b.layers[1].wq.to_f32()));
}

TEST(GgufQwen2, SupportedArchitecturesAreListed) {
  EXPECT_EQ(convert::supported_gguf_architectures(), "llama, qwen2");
}

TEST(GgufQwen2, RealQwen25CoderConfigAndTensors) {
  const std::string path = cache_dir() + "/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " missing: run tools/fetch_model.sh qwen2.5-coder-0.5b";
  const ModelWeights w = convert::load_gguf_weights(path, false);
  const ModelConfig& c = w.config;
  EXPECT_EQ(c.architecture, "qwen2");
  EXPECT_EQ(c.num_layer, 24);
  EXPECT_EQ(c.hidden_units, 896);
  EXPECT_EQ(c.head_num, 14);
  EXPECT_EQ(c.kv_head_num, 2);
  EXPECT_EQ(c.size_per_head, 64);
  EXPECT_EQ(c.inter_size, 4864);
  EXPECT_EQ(c.vocab_size, 151936);
  EXPECT_FLOAT_EQ(c.rope_theta, 1e6f);
  EXPECT_FLOAT_EQ(c.norm_eps, 1e-6f);
  EXPECT_EQ(c.max_position_embeddings, 32768);
  EXPECT_TRUE(c.attn_bias);
  EXPECT_FALSE(c.tie_word_embeddings);  // output.weight present (Q8_0)
  EXPECT_EQ(w.output.dtype, DType::kI8);
  EXPECT_EQ(c.end_id, 151645);
  auto f = gguf::GgufFile::open(path);
  auto deq = [&](const std::string& name) { return gguf::dequantize_tensor(*f, f->tensor(name)); };
  // As src/convert/gguf_repack.h maps them: Q5_0 (embeddings, attn_q/k) -> int8 group 32 and
  // Q8_0 -> int8, bit-exact; Q6_K ffn_down (blk 0) -> f16, within fp16 rounding of the
  // dequantised value; Q4_K ffn_down (blk 11, 23) -> int4 group 32 (its bound: test_dequant.py).
  EXPECT_EQ(w.tok_embeddings.dtype, DType::kI8);
  EXPECT_TRUE(same_bits(w.tok_embeddings.to_f32(), deq("token_embd.weight")));
  for (int i : {0, 11, 23}) {
    const std::string p = "blk." + std::to_string(i) + ".";
    const LayerWeights& l = w.layers[i];
    EXPECT_EQ(l.wq.dtype, DType::kI8) << p;
    EXPECT_TRUE(same_bits(l.wq.to_f32(), deq(p + "attn_q.weight"))) << p;
    EXPECT_TRUE(same_bits(l.wk.to_f32(), deq(p + "attn_k.weight"))) << p;
    EXPECT_TRUE(same_bits(l.wv.to_f32(), deq(p + "attn_v.weight"))) << p;
    EXPECT_TRUE(same_bits(l.bq.to_f32(), deq(p + "attn_q.bias"))) << p;
    EXPECT_TRUE(same_bits(l.bk.to_f32(), deq(p + "attn_k.bias"))) << p;
    EXPECT_TRUE(same_bits(l.w1.to_f32(), deq(p + "ffn_gate.weight"))) << p;
    if (f->tensor(p + "ffn_down.weight").type == uint32_t(gguf::GgmlType::Q4_K)) {
      EXPECT_EQ(l.w2.dtype, DType::kInt4) << p;
      EXPECT_EQ(l.w2.group_size, 32) << p;
      continue;
    }
    ASSERT_EQ(l.w2.dtype, DType::kF16) << p;
    const std::vector<float> got = l.w2.to_f32(), want = deq(p + "ffn_down.weight");
    ASSERT_EQ(got.size(), want.size());
    for (size_t k = 0; k < got.size(); ++k)
      ASSERT_LE(std::fabs(got[k] - want[k]), std::ldexp(std::fabs(want[k]), -11) + std::ldexp(1.0f, -25)) << p << k;
  }
}

}  // namespace
}  // namespace lmd
