// SmolLM2-135M end to end on the device: the nvcc-built CUDA backend's greedy tokens equal the
// CPU backend's exact fp32 path on 4 prompts × 16 new tokens (prompts batched in one prefill
// step, one of them >= 20 tokens so the tensor-core prefill attention and the prefill-sized
// GEMMs run; then batched decode steps). The logits' largest difference is printed, not
// asserted: f16 GEMM inputs at prefill and FMA contraction make it larger than under the shim.
//
// Needs the model file: env LMD_MODEL_PATH, else the default model path (tools/fetch_model.sh).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "common/paths.h"
#include "convert/load_model.h"
#include "model/llama.h"
#include "tests/cuda_device/require_device.h"
#include "tokenizer/tokenizer.h"

namespace lmd {
namespace {

int32_t argmax(const float* v, int n) { return static_cast<int32_t>(std::max_element(v, v + n) - v); }

TEST(CudaDeviceSmolLM2, SameGreedyTokensAsCpuOnFourPrompts) {
  LMD_REQUIRE_CUDA_DEVICE();
  const char* env = std::getenv("LMD_MODEL_PATH");
  const std::string path = env && *env ? std::string(env) : default_model_path();
  ASSERT_TRUE(std::ifstream(path).good())
      << "model file " << path << " missing: run tools/fetch_model.sh or set LMD_MODEL_PATH";
  const ModelWeights w = load_model_weights(path);
  const auto tok = load_tokenizer(path);
  const int vocab = w.config.vocab_size;

  const std::vector<std::string> prompts = {
      "The capital of France is", "def fibonacci(n):", "Water boils at",
      "Here is a short list of the planets of the solar system, ordered by their distance from the sun: 1."};
  const int steps = 16, block_len = 16;

  ModelRuntimeOptions o;
  o.threads = 2;
  o.exact = true;
  o.kv_kind = KvKind::kF16;
  o.block_len = block_len;
  o.kv_num_blocks = 32;
  auto cpu = create_llama_model(w, o);
  o.make_backend = [] { return create_cuda_backend(); };
  auto gpu = create_llama_model(w, o);

  struct Seq {
    std::vector<int32_t> ids;
    int32_t history = 0;
    std::vector<int32_t> blocks;
  };
  std::vector<Seq> seqs;
  int32_t next_block = 0;
  size_t longest = 0;
  for (const auto& p : prompts) {
    Seq s;
    s.ids = tok->encode(p, tok->add_bos_default());
    longest = std::max(longest, s.ids.size());
    const int need = (static_cast<int>(s.ids.size()) + steps + block_len - 1) / block_len;
    for (int b = 0; b < need; ++b) s.blocks.push_back(next_block++);
    seqs.push_back(std::move(s));
  }
  ASSERT_GE(longest, 20u) << "one prompt must reach the prefill kernel";
  ASSERT_LE(next_block, o.kv_num_blocks);

  double max_diff = 0.0, max_logit = 0.0;
  std::vector<std::vector<int32_t>> generated(seqs.size());
  for (int step = 0; step < steps; ++step) {
    StepPlan plan;
    for (size_t i = 0; i < seqs.size(); ++i) {
      Seq& s = seqs[i];
      StepSequence ss;
      ss.seq_id = static_cast<int64_t>(i);
      ss.token_offset = static_cast<int32_t>(plan.tokens.size());
      ss.history_len = s.history;
      ss.need_logits = true;
      ss.block_table = s.blocks;
      if (step == 0) {
        plan.tokens.insert(plan.tokens.end(), s.ids.begin(), s.ids.end());
        ss.n_tokens = static_cast<int32_t>(s.ids.size());
      } else {
        plan.tokens.push_back(generated[i].back());
        ss.n_tokens = 1;
      }
      plan.seqs.push_back(ss);
    }
    std::vector<float> lc(seqs.size() * vocab), lg(seqs.size() * vocab);
    cpu->forward(plan, lc.data());
    gpu->forward(plan, lg.data());
    for (size_t i = 0; i < seqs.size(); ++i) {
      const float* c = lc.data() + i * vocab;
      const float* g = lg.data() + i * vocab;
      for (int v = 0; v < vocab; ++v) {
        ASSERT_TRUE(std::isfinite(g[v])) << "prompt " << i << " step " << step << " logit " << v;
        max_diff = std::max(max_diff, static_cast<double>(std::fabs(c[v] - g[v])));
        max_logit = std::max(max_logit, static_cast<double>(std::fabs(c[v])));
      }
      const int32_t tc = argmax(c, vocab), tg = argmax(g, vocab);
      EXPECT_EQ(tg, tc) << "prompt " << i << " step " << step << ": cuda token " << tg << " vs cpu " << tc;
      generated[i].push_back(tc);  // both continue from the CPU's token
      seqs[i].history += plan.seqs[i].n_tokens;
    }
  }
  for (size_t i = 0; i < seqs.size(); ++i)
    std::printf("[ cuda ] '%s' -> '%s'\n", prompts[i].c_str(), tok->decode(generated[i]).c_str());
  std::printf("[ cuda ] max |logit diff| %.3g of max |logit| %.3g\n", max_diff, max_logit);
}

}  // namespace
}  // namespace lmd
