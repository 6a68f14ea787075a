#include "format/hf_config.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "../convert/convert_test_util.h"
#include "core/error.h"

namespace lmd {
namespace {

using nlohmann::json;

json llama_json() {
  return json{{"architectures", {"LlamaForCausalLM"}},
              {"hidden_size", 576},
              {"num_attention_heads", 9},
              {"num_key_value_heads", 3},
              {"num_hidden_layers", 30},
              {"intermediate_size", 1536},
              {"vocab_size", 49152},
              {"rms_norm_eps", 1e-5},
              {"rope_theta", 100000.0},
              {"max_position_embeddings", 8192},
              {"tie_word_embeddings", true},
              {"bos_token_id", 1},
              {"eos_token_id", {2, 7}},
              {"rope_scaling", {{"type", "dynamic"}, {"factor", 2.0}}},
              {"torch_dtype", "bfloat16"}};
}

std::string error_of(const json& j) {
  try {
    parse_hf_config_json(j, "/m/config.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(HfConfig, LlamaFields) {
  const HfModelInfo info = parse_hf_config_json(llama_json(), "/m/config.json");
  const ModelConfig& c = info.config;
  EXPECT_EQ(c.architecture, "llama");
  EXPECT_EQ(c.head_num, 9);
  EXPECT_EQ(c.kv_head_num, 3);
  EXPECT_EQ(c.size_per_head, 64);
  EXPECT_EQ(c.rotary_embedding, 64);
  EXPECT_EQ(c.hidden_units, 576);
  EXPECT_EQ(c.num_layer, 30);
  EXPECT_EQ(c.inter_size, 1536);
  EXPECT_EQ(c.vocab_size, 49152);
  EXPECT_FLOAT_EQ(c.norm_eps, 1e-5f);
  EXPECT_FLOAT_EQ(c.rope_theta, 100000.0f);
  EXPECT_EQ(c.max_position_embeddings, 8192);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.start_id, 1);
  EXPECT_EQ(c.end_id, 2);  // first of the list
  EXPECT_FLOAT_EQ(c.rope_scaling_factor, 2.0f);
  EXPECT_FALSE(c.attn_bias);
  EXPECT_EQ(c.weight_type, DType::kBF16);
  EXPECT_FALSE(info.quant.present);
}

TEST(HfConfig, HeadDimOverridesHiddenOverHeads) {
  json j = llama_json();
  j["head_dim"] = 128;
  EXPECT_EQ(parse_hf_config_json(j, "x").config.size_per_head, 128);
}

TEST(HfConfig, GqaDefaultsToMha) {
  json j = llama_json();
  j.erase("num_key_value_heads");
  EXPECT_EQ(parse_hf_config_json(j, "x").config.kv_head_num, 9);
}

TEST(HfConfig, RopeTypeLinearSpelling) {
  json j = llama_json();
  j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", 4.0}};
  EXPECT_FLOAT_EQ(parse_hf_config_json(j, "x").config.rope_scaling_factor, 4.0f);
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  EXPECT_NE(error_of(j).find("rope_scaling type 'yarn'"), std::string::npos) << error_of(j);
}

TEST(HfConfig, InternLMBiasAndQwen2Bias) {
  json j = llama_json();
  j["architectures"] = {"InternLMForCausalLM"};
  j["bias"] = true;
  auto c = parse_hf_config_json(j, "x").config;
  EXPECT_EQ(c.architecture, "internlm");
  EXPECT_TRUE(c.attn_bias);
  j["bias"] = false;
  EXPECT_FALSE(parse_hf_config_json(j, "x").config.attn_bias);
  j.erase("bias");
  j["architectures"] = {"Qwen2ForCausalLM"};
  c = parse_hf_config_json(j, "x").config;
  EXPECT_EQ(c.architecture, "qwen2");
  EXPECT_TRUE(c.attn_bias);
  j["use_sliding_window"] = false;
  EXPECT_TRUE(parse_hf_config_json(j, "x").config.attn_bias);
  j["use_sliding_window"] = true;
  EXPECT_NE(error_of(j).find("use_sliding_window = true (sliding-window attention) is not supported"),
            std::string::npos)
      << error_of(j);
  j.erase("use_sliding_window");
  j["architectures"] = {"MistralForCausalLM"};
  EXPECT_EQ(parse_hf_config_json(j, "x").config.architecture, "mistral");
}

TEST(HfConfig, MissingFieldNamesFileAndField) {
  json j = llama_json();
  j.erase("num_attention_heads");
  EXPECT_EQ(error_of(j), "/m/config.json: missing field 'num_attention_heads'");
}

TEST(HfConfig, WrongTypeNamesField) {
  json j = llama_json();
  j["hidden_size"] = "576";
  EXPECT_NE(error_of(j).find("'hidden_size' must be an integer"), std::string::npos) << error_of(j);
}

TEST(HfConfig, UnknownArchitectureListsSupported) {
  json j = llama_json();
  j["architectures"] = {"GPT2LMHeadModel"};
  const std::string e = error_of(j);
  EXPECT_NE(e.find("unsupported architecture GPT2LMHeadModel (supported: LlamaForCausalLM"), std::string::npos) << e;
  EXPECT_NE(e.find("Qwen2ForCausalLM"), std::string::npos) << e;
}

TEST(HfConfig, AwqQuantizationConfig) {
  json j = llama_json();
  j["quantization_config"] = {{"quant_method", "awq"}, {"bits", 4}, {"group_size", 128}, {"version", "gemm"},
                              {"zero_point", true}};
  const auto q = parse_hf_config_json(j, "x").quant;
  EXPECT_TRUE(q.present);
  EXPECT_EQ(q.quant_method, "awq");
  EXPECT_EQ(q.bits, 4);
  EXPECT_EQ(q.group_size, 128);
  EXPECT_EQ(q.version, "gemm");
}

TEST(HfConfig, ReadsFileOrDirectory) {
  convert_test::TempDir d;
  convert_test::write_json(d / "config.json", llama_json());
  EXPECT_EQ(parse_hf_config(d.path()).config.head_num, 9);
  EXPECT_EQ(parse_hf_config(d / "config.json").config.head_num, 9);
  try {
    parse_hf_config(d / "nope");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(d / "nope"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace lmd
