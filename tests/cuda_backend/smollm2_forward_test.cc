// The whole SmolLM2-135M forward pass through the CUDA backend executed under the shim
// (every kernel on fibers) against the CPU backend's exact fp32 path: 4 prompts batched in
// one prefill step, then batched greedy decode steps. Same greedy tokens, logits close.
//
// Needs the model file: env LMD_MODEL_PATH, else the default model path
// (tools/fetch_model.sh puts it there). Slow by design (the shim runs ~10^9 fiber
// switches); LMD_CUDA_SHIM_NEW_TOKENS overrides the number of decoded tokens.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "tests/cuda_backend/greedy_pair.h"

namespace lmd {
namespace {

int new_tokens() {
  const char* env = std::getenv("LMD_CUDA_SHIM_NEW_TOKENS");
  return env && *env ? std::max(1, std::atoi(env)) : 8;
}

TEST(CudaBackendSmolLM2, SameGreedyTokensAsCpuOnFourPrompts) {
  const std::string path = backend_test::smollm2_path();
  ASSERT_TRUE(std::ifstream(path).good())
      << "model file " << path << " missing: run tools/fetch_model.sh or set LMD_MODEL_PATH";
  const ModelWeights w = load_model_weights(path);
  const auto tok = load_tokenizer(path);
  const std::vector<std::string> prompts = {"The capital of France is", "def fibonacci(n):", "Water boils at",
                                            "1, 2, 3, 4,"};
  const int steps = new_tokens();
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = backend_test::greedy_pair(w, *tok, prompts, steps, "cuda shim");
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("[ cuda shim ] %d prompts, %d new tokens each, %.1f s (both backends); max |logit diff| %.3g of max "
              "|logit| %.3g\n",
              static_cast<int>(prompts.size()), steps, secs, r.max_diff, r.max_logit);
  // fp32 activations on both sides except the f16 inputs of the prefill GEMMs.
  EXPECT_LT(r.max_diff, 1e-3 * std::max(1.0, r.max_logit));
}

}  // namespace
}  // namespace lmd
