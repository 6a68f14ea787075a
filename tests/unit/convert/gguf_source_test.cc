// GGUF -> ModelWeights on the default SmolLM2 Q4_1 file; the oracle is the formats
// library's reference dequantisation (bit-exact with the gguf Python package) plus the
// documented llama.cpp row permutation.
#include <gtest/gtest.h>

#include "core/error.h"
#include "convert/rope_permute.h"
#include "convert/sources.h"
#include "convert_test_util.h"
#include "format/gguf.h"

namespace lmd {
namespace {

// Rows of a [rows, cols] fp32 matrix reordered GGUF -> HF (per head h of d rows:
// HF row h·d + j·d/2 + i = GGUF row h·d + 2i + j), written independently of rope_permute.cc.
std::vector<float> unpermute_reference(const std::vector<float>& v, int64_t rows, int64_t cols, int heads) {
  std::vector<float> out(v.size());
  const int64_t d = rows / heads;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t h = r / d, k = r % d, j = k / (d / 2), i = k % (d / 2);
    const int64_t src = h * d + 2 * i + j;
    std::copy(v.begin() + src * cols, v.begin() + (src + 1) * cols, out.begin() + r * cols);
  }
  return out;
}

void expect_bits(const std::vector<float>& a, const std::vector<float>& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::memcmp(&a[i], &b[i], 4) != 0) {
      ADD_FAILURE() << what << " element " << i << ": " << a[i] << " vs " << b[i];
      return;
    }
  }
}

class GgufSourceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    path_ = convert_test::smollm2_gguf();
    if (path_.empty()) return;
    file_ = gguf::GgufFile::open(path_).release();
    half_ = new ModelWeights(convert::load_gguf_weights(path_, false));
    adjacent_ = new ModelWeights(convert::load_gguf_weights(path_, true));
  }
  static void TearDownTestSuite() {
    delete file_;
    delete half_;
    delete adjacent_;
  }
  void SetUp() override { ASSERT_NE(half_, nullptr) << "SmolLM2 GGUF not available"; }
  static std::vector<float> deq(const std::string& name) {
    return gguf::dequantize_tensor(*file_, file_->tensor(name));
  }
  static inline std::string path_;
  static inline gguf::GgufFile* file_ = nullptr;
  static inline ModelWeights* half_ = nullptr;
  static inline ModelWeights* adjacent_ = nullptr;
};

TEST_F(GgufSourceTest, ConfigFromMetadata) {
  const ModelConfig& c = half_->config;
  EXPECT_EQ(c.num_layer, 30);
  EXPECT_EQ(c.hidden_units, 576);
  EXPECT_EQ(c.head_num, 9);
  EXPECT_EQ(c.kv_head_num, 3);
  EXPECT_EQ(c.size_per_head, 64);
  EXPECT_EQ(c.inter_size, 1536);
  EXPECT_EQ(c.vocab_size, 49152);
  EXPECT_FLOAT_EQ(c.norm_eps, 1e-5f);
  EXPECT_FLOAT_EQ(c.rope_theta, 100000.0f);
  EXPECT_EQ(c.max_position_embeddings, 8192);
  EXPECT_EQ(c.start_id, file_->get_int("tokenizer.ggml.bos_token_id"));
  EXPECT_EQ(c.end_id, file_->get_int("tokenizer.ggml.eos_token_id"));
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_TRUE(half_->output.empty());
  EXPECT_EQ(c.rope_pairing, RopePairing::kHalfSplit);
  EXPECT_EQ(adjacent_->config.rope_pairing, RopePairing::kAdjacent);
}

TEST_F(GgufSourceTest, StorageTypes) {
  EXPECT_EQ(half_->tok_embeddings.dtype, DType::kI8);  // Q8_0
  EXPECT_EQ(half_->tok_embeddings.group_size, 32);
  EXPECT_EQ(half_->layers[0].wq.dtype, DType::kInt4);  // Q4_1
  EXPECT_EQ(half_->layers[0].wq.group_size, 32);
  EXPECT_EQ(half_->layers[0].attention_norm.dtype, DType::kF32);
  EXPECT_EQ(half_->config.weight_type, DType::kInt4);
  EXPECT_EQ(half_->config.group_size, 32);
}

TEST_F(GgufSourceTest, Q4_1AndQ8_0MatchReferenceDequantisation) {
  expect_bits(half_->tok_embeddings.to_f32(), deq("token_embd.weight"), "token_embd");
  for (int i : {0, 17, 29}) {
    const std::string p = "blk." + std::to_string(i) + ".";
    const LayerWeights& l = half_->layers[i];
    expect_bits(l.wv.to_f32(), deq(p + "attn_v.weight"), p + "attn_v");
    expect_bits(l.wo.to_f32(), deq(p + "attn_output.weight"), p + "attn_output");
    expect_bits(l.w1.to_f32(), deq(p + "ffn_gate.weight"), p + "ffn_gate");
    expect_bits(l.w3.to_f32(), deq(p + "ffn_up.weight"), p + "ffn_up");
    expect_bits(l.w2.to_f32(), deq(p + "ffn_down.weight"), p + "ffn_down");
    expect_bits(l.attention_norm.to_f32(), deq(p + "attn_norm.weight"), p + "attn_norm");
    expect_bits(l.ffn_norm.to_f32(), deq(p + "ffn_norm.weight"), p + "ffn_norm");
  }
  expect_bits(half_->norm.to_f32(), deq("output_norm.weight"), "output_norm");
}

TEST_F(GgufSourceTest, QkRowsUnpermutedToHalfSplit) {
  for (int i : {0, 29}) {
    const std::string p = "blk." + std::to_string(i) + ".";
    expect_bits(half_->layers[i].wq.to_f32(), unpermute_reference(deq(p + "attn_q.weight"), 576, 576, 9), p + "q");
    expect_bits(half_->layers[i].wk.to_f32(), unpermute_reference(deq(p + "attn_k.weight"), 192, 576, 3), p + "k");
    // keep_gguf_rope_layout: rows as llama.cpp stores them.
    expect_bits(adjacent_->layers[i].wq.to_f32(), deq(p + "attn_q.weight"), p + "q adjacent");
    expect_bits(adjacent_->layers[i].wk.to_f32(), deq(p + "attn_k.weight"), p + "k adjacent");
  }
}

TEST(RopePermute, PermuteInvertsUnpermuteOnInt4Rows) {
  std::vector<uint8_t> nib(8 * 32 / 2), sm(8 * 1 * 4);
  for (size_t i = 0; i < nib.size(); ++i) nib[i] = static_cast<uint8_t>(i * 7);
  for (size_t i = 0; i < sm.size(); ++i) sm[i] = static_cast<uint8_t>(i);
  const WeightTensor orig = make_int4(8, 32, 32, nib, sm);
  WeightTensor t = orig;
  convert::unpermute_gguf_rows(t, 2);
  EXPECT_FALSE(t.data == orig.data);
  // Head 0 (rows 0..3): HF row 1 = GGUF row 2 (i=1, j=0); its scale row moves with it.
  EXPECT_TRUE(std::equal(t.data.begin() + 16, t.data.begin() + 32, orig.data.begin() + 32));
  EXPECT_TRUE(std::equal(t.aux.begin() + 4, t.aux.begin() + 8, orig.aux.begin() + 8));
  convert::permute_to_gguf_rows(t, 2);
  EXPECT_TRUE(t.data == orig.data && t.aux == orig.aux);
}

}  // namespace
}  // namespace lmd
