// Engine::create with a CUDA device and --tp > 1: one rank per device, so with the shim's one
// simulated device --tp 2 must fail before loading anything, naming how many devices exist;
// with three simulated devices (LMD_CUDA_SHIM_DEVICES=3) the engine runs rank r on device r,
// its all-reduces through the communicators of the "cuda" kind this binary registers (CPU
// communicators under the shim: register_cuda_device_kind), and greedy output equals the CPU
// engine's. --tp 3, not 2: SmolLM2's 9 heads / 3 KV heads divide by 3 only (and the tiny
// generated models' head dim, 16, is not one the CUDA attention kernel takes).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "backend/cuda/cuda_backend.h"
#include "core/error.h"
#include "common/paths.h"
#include "kernels/cuda/shim/cuda_compat.h"
#include "lmdeploy/engine.h"
#include "engine_greedy.h"

namespace lmd {
namespace {

using test::greedy;
using test::model_path;

void expect_refused(const std::string& device, int tp, const std::string& needle) {
  EngineConfig cfg;
  cfg.device = device;
  cfg.tp = tp;
  try {
    // The path need not exist: the refusal comes before the model is opened.
    Engine::create("/nonexistent/model.gguf", cfg);
    FAIL() << "--device " << device << " --tp " << tp << ": expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kUnsupported) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(CudaEngineTp, TooFewDevicesNamesHowManyExist) {
  const size_t have = cuda_devices().size();
  ASSERT_GE(have, 1u) << "the shim reports one device";
  const int tp = static_cast<int>(have) + 1;
  const std::string needle = "needs " + std::to_string(tp) + " CUDA devices (one rank per device), but " +
                             std::to_string(have) + " exist";
  expect_refused("cuda", tp, needle);
  expect_refused("auto", tp, needle);
}

TEST(CudaEngineTp, Tp3OnThreeShimDevicesEqualsCpuEngine) {
  ASSERT_TRUE(std::ifstream(model_path()).good())
      << "model file " << model_path() << " missing: run tools/fetch_model.sh or set LMD_MODEL_PATH";
  setenv("LMD_CUDA_SHIM_DEVICES", "3", 1);
  struct Restore {
    ~Restore() { unsetenv("LMD_CUDA_SHIM_DEVICES"); }
  } restore;
  ASSERT_EQ(cuda_devices().size(), 3u);
  const std::string prompt = "The capital of France is";
  size_t bytes = 0;
  const auto cpu = greedy("cpu", 1, prompt, &bytes);
  ASSERT_EQ(cpu.size(), 3u);
  EngineStats stats;
  EXPECT_EQ(greedy("cuda", 3, prompt, &bytes, &stats), cpu);
  EXPECT_GT(bytes, 50u << 20) << "--device cuda --tp 3 did not put the weights on the (shim) devices";
  // The vocab-split logits are sampled on the host (no device sampling with tp > 1).
  EXPECT_EQ(stats.sampled_on_device, 0);
  EXPECT_EQ(stats.sampled_on_host, 3);
}

}  // namespace
}  // namespace lmd
