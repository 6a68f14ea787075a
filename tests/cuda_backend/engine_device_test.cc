// Engine::create's device branch with a device present: in this binary the CUDA runtime is
// the shim, which reports one device, so `--device auto` / `cuda` build the engine on the
// CUDA backend (executed under the shim). Greedy output equals the CPU engine's, and with tp 1
// the tokens are sampled on the device.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "backend/cuda/cuda_backend.h"
#include "common/paths.h"
#include "kernels/cuda/shim/cuda_compat.h"
#include "lmdeploy/engine.h"
#include "engine_greedy.h"

namespace lmd {
namespace {

using test::greedy;
using test::model_path;

TEST(CudaBackendEngine, DeviceAutoAndCudaUseTheShimDevice) {
  ASSERT_TRUE(std::ifstream(model_path()).good())
      << "model file " << model_path() << " missing: run tools/fetch_model.sh or set LMD_MODEL_PATH";
  ASSERT_EQ(cuda_devices().size(), 1u);  // the shim's
  const std::string prompt = "The capital of France is";
  size_t bytes = 0;
  const auto cpu = greedy("cpu", 1, prompt, &bytes);
  ASSERT_FALSE(cpu.empty());
  EXPECT_EQ(bytes, 0u);
  EXPECT_EQ(greedy("auto", 1, prompt, &bytes), cpu);
  EXPECT_GT(bytes, 50u << 20) << "--device auto did not put the weights on the (shim) device";
  EngineStats stats;
  EXPECT_EQ(greedy("cuda", 1, prompt, &bytes, &stats), cpu);
  EXPECT_GT(bytes, 50u << 20);
  // tp 1 on the CUDA backend: the tokens were chosen on the device (SmolLM2's 49152-id vocab).
  EXPECT_EQ(stats.sampled_on_device, 3);
  EXPECT_EQ(stats.sampled_on_host, 0);
}

}  // namespace
}  // namespace lmd
