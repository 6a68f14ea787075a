// Engine::create's device branch with a device present: in this binary the CUDA runtime is
// the shim, which reports one device, so `--device auto` / `cuda` build the engine on the
// CUDA backend (executed under the shim). Greedy output equals the CPU engine's.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "backend/cuda/cuda_backend.h"
#include "common/paths.h"
#include "kernels/cuda/shim/cuda_compat.h"
#include "lmdeploy/engine.h"

namespace lmd {
namespace {

std::string model_path() {
  const char* env = std::getenv("LMD_MODEL_PATH");
  return env && *env ? std::string(env) : default_model_path();
}

// Greedy tokens; *device_bytes: the shim device's memory in use while the engine lives
// (> 0 only when the engine runs on the CUDA backend).
std::vector<int32_t> greedy(const std::string& device, const std::string& prompt, size_t* device_bytes) {
  EngineConfig cfg;
  cfg.device = device;
  cfg.numerics = "exact";
  cfg.threads = 2;
  cfg.session_len = 64;
  cfg.max_batch_size = 1;
  cfg.cache_block_seq_len = 16;
  cfg.cache_max_entry_count = 8;  // blocks: the shim's "device" memory is host memory
  auto engine = Engine::create(model_path(), cfg);
  Request r;
  r.prompt_ids = engine->encode(prompt, true);
  r.gen.max_new_tokens = 3;
  r.gen.temperature = 0.0f;
  const GenerationOutput out = engine->submit(r)->collect();
  *device_bytes = shim::device_heap().bytes_in_use;
  EXPECT_TRUE(out.finish_reason == "length" || out.finish_reason == "stop") << out.finish_reason << " " << out.error;
  return out.token_ids;
}

TEST(CudaBackendEngine, DeviceAutoAndCudaUseTheShimDevice) {
  ASSERT_TRUE(std::ifstream(model_path()).good())
      << "model file " << model_path() << " missing: run tools/fetch_model.sh or set LMD_MODEL_PATH";
  ASSERT_EQ(cuda_devices().size(), 1u);  // the shim's
  const std::string prompt = "The capital of France is";
  size_t bytes = 0;
  const auto cpu = greedy("cpu", prompt, &bytes);
  ASSERT_FALSE(cpu.empty());
  EXPECT_EQ(bytes, 0u);
  EXPECT_EQ(greedy("auto", prompt, &bytes), cpu);
  EXPECT_GT(bytes, 50u << 20) << "--device auto did not put the weights on the (shim) device";
  EXPECT_EQ(greedy("cuda", prompt, &bytes), cpu);
  EXPECT_GT(bytes, 50u << 20);
}

}  // namespace
}  // namespace lmd
