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

#include "tests/cuda_backend/greedy_pair.h"
#include "tests/cuda_device/require_device.h"

namespace lmd {
namespace {

TEST(CudaDeviceSmolLM2, SameGreedyTokensAsCpuOnFourPrompts) {
  LMD_REQUIRE_CUDA_DEVICE();
  const std::string path = backend_test::smollm2_path();
  ASSERT_TRUE(std::ifstream(path).good())
      << "model file " << path << " missing: run tools/fetch_model.sh or set LMD_MODEL_PATH";
  const ModelWeights w = load_model_weights(path);
  const auto tok = load_tokenizer(path);
  const std::vector<std::string> prompts = {
      "The capital of France is", "def fibonacci(n):", "Water boils at",
      "Here is a short list of the planets of the solar system, ordered by their distance from the sun: 1."};
  const auto r = backend_test::greedy_pair(w, *tok, prompts, 16, "cuda");
  EXPECT_GE(r.longest_prompt, 20u) << "one prompt must reach the prefill kernel";
  std::printf("[ cuda ] max |logit diff| %.3g of max |logit| %.3g\n", r.max_diff, r.max_logit);
}

}  // namespace
}  // namespace lmd
