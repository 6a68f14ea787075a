// SmolLM2 through two models in lockstep (the CUDA backend's and the CPU backend's exact
// path): the prompts prefilled together in one step, then batched greedy decode steps, both
// models fed the CPU's token. Shared by the shim test (tests/cuda_backend/smollm2_forward_test.cc)
// and the device test (tests/cuda_device/smollm2_device_test.cc).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "common/paths.h"
#include "convert/load_model.h"
#include "model/llama.h"
#include "tokenizer/tokenizer.h"

namespace lmd {
namespace backend_test {

inline std::string smollm2_path() {
  const char* env = std::getenv("LMD_MODEL_PATH");
  return env && *env ? std::string(env) : default_model_path();
}

struct GreedyPairResult {
  std::vector<std::vector<int32_t>> generated;  // the CPU's tokens per prompt
  size_t longest_prompt = 0;                    // tokens
  double max_diff = 0.0;                        // max |cpu - cuda| over every logit
  double max_logit = 0.0;                       // max |cpu logit|
};

// `steps` greedy tokens per prompt; a token that differs is a test failure naming the prompt
// and step. Both models: exact fp32 activations, f16 KV in blocks of 16.
inline GreedyPairResult greedy_pair(const ModelWeights& w, const Tokenizer& tok, const std::vector<std::string>& prompts,
                                    int steps, const char* label) {
  const int vocab = w.config.vocab_size, block_len = 16;
  struct Seq {
    std::vector<int32_t> ids;
    int32_t history = 0;
    std::vector<int32_t> blocks;
  };
  GreedyPairResult r;
  std::vector<Seq> seqs;
  int32_t next_block = 0;
  for (const auto& p : prompts) {
    Seq s;
    s.ids = tok.encode(p, tok.add_bos_default());
    r.longest_prompt = std::max(r.longest_prompt, s.ids.size());
    const int need = (static_cast<int>(s.ids.size()) + steps + block_len - 1) / block_len;
    for (int b = 0; b < need; ++b) s.blocks.push_back(next_block++);
    seqs.push_back(std::move(s));
  }
  ModelRuntimeOptions o;
  o.threads = 2;
  o.exact = true;
  o.kv_kind = KvKind::kF16;
  o.block_len = block_len;
  o.kv_num_blocks = next_block;
  auto cpu = create_llama_model(w, o);
  o.make_backend = [] { return create_cuda_backend(); };
  auto gpu = create_llama_model(w, o);

  r.generated.resize(seqs.size());
  for (int step = 0; step < steps; ++step) {
    StepPlan plan;
    for (size_t i = 0; i < seqs.size(); ++i) {
      const Seq& s = seqs[i];
      const std::vector<int32_t> next = step == 0 ? s.ids : std::vector<int32_t>{r.generated[i].back()};
      append_sequence(&plan, next.data(), static_cast<int32_t>(next.size()), s.history, s.blocks, true,
                      static_cast<int64_t>(i));
    }
    std::vector<float> lc(seqs.size() * vocab), lg(seqs.size() * vocab);
    cpu->forward(plan, lc.data());
    gpu->forward(plan, lg.data());
    for (size_t i = 0; i < seqs.size(); ++i) {
      const float* c = lc.data() + i * vocab;
      const float* g = lg.data() + i * vocab;
      for (int v = 0; v < vocab; ++v) {
        EXPECT_TRUE(std::isfinite(g[v])) << label << ": prompt " << i << " step " << step << " logit " << v;
        r.max_diff = std::max(r.max_diff, static_cast<double>(std::fabs(c[v] - g[v])));
        r.max_logit = std::max(r.max_logit, static_cast<double>(std::fabs(c[v])));
      }
      const auto tc = static_cast<int32_t>(std::max_element(c, c + vocab) - c);
      const auto tg = static_cast<int32_t>(std::max_element(g, g + vocab) - g);
      EXPECT_EQ(tg, tc) << label << ": prompt " << i << " step " << step << ": cuda token " << tg << " vs cpu " << tc;
      r.generated[i].push_back(tc);  // both continue from the CPU's token
      seqs[i].history += plan.seqs[i].n_tokens;
    }
  }
  for (size_t i = 0; i < prompts.size(); ++i)
    std::printf("[ %s ] '%s' -> '%s'\n", label, prompts[i].c_str(), tok.decode(r.generated[i]).c_str());
  return r;
}

}  // namespace backend_test
}  // namespace lmd
