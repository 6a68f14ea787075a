#include "format/workspace.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "../convert/convert_test_util.h"
#include "core/error.h"
#include "convert/convert.h"
#include "convert/tp_split.h"

namespace lmd {
namespace {

using convert_test::TempDir;
using convert_test::TinySpec;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string read_text(const std::string& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_text(const std::string& p, const std::string& s) { std::ofstream(p) << s; }

// Replaces the line "key = ..." of config.ini.
void set_ini(const std::string& path, const std::string& key, const std::string& value) {
  std::string s = read_text(path);
  const size_t at = s.find("\n" + key + " = ");
  ASSERT_NE(at, std::string::npos) << key;
  const size_t end = s.find('\n', at + 1);
  s.replace(at + 1, end - at - 1, key + " = " + value);
  write_text(path, s);
}

TEST(Workspace, ConfigIniHasEverySeedFieldInOrder) {
  TempDir d;
  TinySpec s;
  convert::write_workspace_weights(convert_test::random_weights(s, 1), d.path(), 1, false);
  const std::string text = read_text(workspace::weights_dir(d.path()) + "/config.ini");
  const char* seed[] = {"model_name", "tensor_para_size", "head_num", "kv_head_num", "vocab_size", "num_layer",
                        "inter_size", "norm_eps", "attn_bias", "start_id", "end_id", "session_len", "weight_type",
                        "rotary_embedding", "rope_theta", "size_per_head", "group_size", "max_batch_size",
                        "max_context_token_num", "step_length", "cache_max_entry_count", "cache_block_seq_len",
                        "cache_chunk_size", "use_context_fmha", "quant_policy", "max_position_embeddings",
                        "rope_scaling_factor", "use_logn_attn"};
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "[llama]");
  for (const char* k : seed) {
    ASSERT_TRUE(std::getline(in, line));
    EXPECT_EQ(line.substr(0, line.find(" = ")), k);
  }
  for (const char* k : {"hidden_units", "tie_word_embeddings", "architecture", "embedding_type", "output_type",
                        "int8_group_size"}) {
    EXPECT_NE(text.find(std::string("\n") + k + " = "), std::string::npos) << k;
  }
}

TEST(Workspace, RoundTripKeepsStorage) {
  for (DType dt : {DType::kF32, DType::kF16, DType::kBF16}) {
    TempDir d;
    TinySpec s;
    s.dtype = dt;
    s.bias = true;
    const ModelWeights w = convert_test::random_weights(s, 2);
    convert::write_workspace_weights(w, d.path(), 1, false);
    const ModelWeights back = workspace::load_rank(d.path(), 0);
    convert_test::expect_weights_equal(w, back, true);
    EXPECT_EQ(back.config.weight_type, dt);
    EXPECT_EQ(back.config.head_num, 4);
    EXPECT_EQ(back.config.kv_head_num, 2);
    EXPECT_TRUE(back.config.attn_bias);
    EXPECT_EQ(back.config.model_name, "tiny");
  }
}

TEST(Workspace, ConfigFieldsRoundTrip) {
  TempDir d;
  TinySpec s;
  ModelWeights w = convert_test::random_weights(s, 3);
  w.config.norm_eps = 1e-5f;
  w.config.rope_theta = 100000.0f;
  w.config.rope_scaling_factor = 2.5f;
  w.config.start_id = 7;
  w.config.end_id = 9;
  w.config.session_len = 1234;
  convert::write_workspace_weights(w, d.path(), 2, false);
  const auto cfg = workspace::read_config_ini(workspace::weights_dir(d.path()) + "/config.ini");
  EXPECT_EQ(cfg.model.norm_eps, 1e-5f);
  EXPECT_EQ(cfg.model.rope_theta, 100000.0f);
  EXPECT_EQ(cfg.model.rope_scaling_factor, 2.5f);
  EXPECT_EQ(cfg.model.start_id, 7);
  EXPECT_EQ(cfg.model.end_id, 9);
  EXPECT_EQ(cfg.model.session_len, 1234);
  EXPECT_EQ(cfg.model.tensor_para_size, 2);
  EXPECT_EQ(cfg.model.hidden_units, 64);
}

TEST(Workspace, TensorParallelShardsConcatenateBack) {
  TempDir d1, d2;
  TinySpec s;
  s.bias = true;
  s.dtype = DType::kF16;
  const ModelWeights w = convert_test::random_weights(s, 4);
  convert::write_workspace_weights(w, d1.path(), 1, false);
  convert::write_workspace_weights(w, d2.path(), 2, false);
  const auto ranks = workspace::load_all_ranks(d2.path());
  ASSERT_EQ(ranks.size(), 2u);
  EXPECT_EQ(ranks[1].layers[0].wq.rows(), 32);  // 2 of 4 heads x 16
  EXPECT_EQ(ranks[1].layers[0].wk.rows(), 16);  // 1 of 2 kv heads
  EXPECT_EQ(ranks[1].layers[0].w2.cols(), 48);  // inter 96 / 2
  convert_test::expect_weights_equal(workspace::load_rank(d1.path(), 0), convert::merge_ranks(ranks), true);
  // The rank files are a real split, not copies.
  EXPECT_FALSE(ranks[0].layers[0].wq.data == ranks[1].layers[0].wq.data);
}

TEST(Workspace, TpNotDividingHeadsIsAnError) {
  TempDir d;
  TinySpec s;  // 4 heads, 2 kv heads
  const std::string e = error_of([&] { convert::write_workspace_weights(convert_test::random_weights(s, 5), d.path(), 3, false); });
  EXPECT_NE(e.find("--tp 3: head_num 4 and kv_head_num 2"), std::string::npos) << e;
}

TEST(Workspace, LoadWithOtherTpRefuses) {
  TempDir d;
  convert::write_workspace_weights(convert_test::random_weights(TinySpec{}, 6), d.path(), 2, false);
  const std::string e = error_of([&] { workspace::load_for_engine(d.path(), 1, 0); });
  EXPECT_NE(e.find("converted with --tp 2 but is loaded with tp 1"), std::string::npos) << e;
  EXPECT_NO_THROW(workspace::load_for_engine(d.path(), 2, 1));
}

TEST(Workspace, TruncatedTensorFileNamesFileAndSizes) {
  TempDir d;
  convert::write_workspace_weights(convert_test::random_weights(TinySpec{}, 7), d.path(), 1, false);
  const std::string f = workspace::weights_dir(d.path()) + "/layers.1.feed_forward.w2.0.weight";
  std::filesystem::resize_file(f, 100);
  const std::string e = error_of([&] { workspace::load_rank(d.path(), 0); });
  EXPECT_EQ(e, "workspace tensor file " + f + " has 100 bytes, config.ini implies " + std::to_string(64 * 96 * 4));
}

TEST(Workspace, MissingTensorFileNamesIt) {
  TempDir d;
  convert::write_workspace_weights(convert_test::random_weights(TinySpec{}, 8), d.path(), 1, false);
  const std::string f = workspace::weights_dir(d.path()) + "/layers.0.attention.w_qkv.0.weight";
  std::filesystem::remove(f);
  EXPECT_EQ(error_of([&] { workspace::load_rank(d.path(), 0); }), "workspace tensor file missing: " + f);
}

TEST(Workspace, BadConfigValuesNameFieldAndValue) {
  TempDir d;
  convert::write_workspace_weights(convert_test::random_weights(TinySpec{}, 9), d.path(), 1, false);
  const std::string ini = workspace::weights_dir(d.path()) + "/config.ini";
  const std::string good = read_text(ini);
  struct Case {
    const char* key;
    const char* value;
    const char* expect;
  } cases[] = {
      {"weight_type", "fp8", "field 'weight_type' = 'fp8' is not a weight type"},
      {"head_num", "0", "field 'head_num' = 0 must be positive"},
      {"inter_size", "-5", "field 'inter_size' = -5 must be positive"},
      {"vocab_size", "abc", "field 'vocab_size' = 'abc' is not an integer"},
      {"norm_eps", "x", "field 'norm_eps' = 'x' is not a number"},
      {"attn_bias", "2", "field 'attn_bias' = 2 must be 0 or 1"},
      {"kv_head_num", "3", "kv_head_num 3 does not divide head_num 4"},
      {"model_name", "", "field 'model_name' is empty"},
  };
  for (const Case& c : cases) {
    write_text(ini, good);
    set_ini(ini, c.key, c.value);
    const std::string e = error_of([&] { workspace::load_rank(d.path(), 0); });
    EXPECT_NE(e.find(c.expect), std::string::npos) << c.key << ": " << e;
    EXPECT_NE(e.find(ini), std::string::npos) << c.key << ": " << e;
  }
}

TEST(Workspace, Int4ColumnSplitMustKeepGroups) {
  // wo [64, 64] int4 group 32 splits into 32 columns for tp 2 (fine) but 16 for tp 4.
  TinySpec s;
  s.heads = 4;
  s.kv_heads = 4;
  ModelWeights w = convert_test::random_weights(s, 10);
  std::vector<uint8_t> nib(64 * 64 / 2, 0x21), sm(64 * 2 * 4, 0);
  w.layers[0].wo = make_int4(64, 64, 32, nib, sm);
  TempDir d;
  EXPECT_NO_THROW(convert::write_workspace_weights(w, d.path(), 2, false));
  TempDir d4;
  const std::string e = error_of([&] { convert::write_workspace_weights(w, d4.path(), 4, false); });
  EXPECT_NE(e.find("layer 0 wo splits into 16 columns per rank, not a multiple of the quantisation group size 32"),
            std::string::npos)
      << e;
}

}  // namespace
}  // namespace lmd
