// Engine::create on the CUDA backend (the shim's device) sizes the KV pool from DEVICE memory:
// cache_max_entry_count < 1 is a fraction of cudaMemGetInfo's free bytes minus the weights
// (lmdeploy's rule), not of host memory. The shim's device size is set by env
// LMD_CUDA_SHIM_DEVICE_MEMORY. Needs the SmolLM2 GGUF (LMD_MODEL_PATH or the default path).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "backend/cuda/cuda_backend.h"
#include "core/error.h"
#include "common/paths.h"
#include "convert/load_model.h"
#include "kernels/cuda/shim/cuda_compat.h"
#include "core/kv_layout.h"
#include "lmdeploy/engine.h"

namespace lmd {
namespace {

std::string model_path() {
  const char* env = std::getenv("LMD_MODEL_PATH");
  return env && *env ? std::string(env) : default_model_path();
}

size_t heap_in_use() {
  auto& h = shim::device_heap();
  std::lock_guard<std::mutex> lock(h.mu);
  return h.bytes_in_use;
}

EngineConfig config(const std::string& device, float cache) {
  EngineConfig cfg;
  cfg.device = device;
  cfg.threads = 1;
  cfg.session_len = 8192;
  cfg.max_batch_size = 16;  // 16 full sessions = 2048 blocks: memory is the bound below
  cfg.cache_block_seq_len = 64;
  cfg.cache_max_entry_count = cache;
  return cfg;
}

TEST(CudaKvPool, FractionOfFreeDeviceMemoryAfterTheWeights) {
  const std::string path = model_path();
  ASSERT_TRUE(std::ifstream(path).good()) << "model file " << path
                                          << " missing: run tools/fetch_model.sh or set LMD_MODEL_PATH";
  // The oracle: the weights' bytes as loaded (what the engine will upload), the block size of
  // SmolLM2's fp16 KV, and lmdeploy's rule.
  const ModelWeights w = load_model_weights(path);
  uint64_t weights = 0;
  auto add = [&](const WeightTensor& t) { weights += t.data.size() + t.aux.size(); };
  add(w.tok_embeddings), add(w.norm), add(w.output);
  for (const auto& l : w.layers)
    for (const WeightTensor* t : {&l.attention_norm, &l.wq, &l.wk, &l.wv, &l.bq, &l.bk, &l.bv, &l.wo, &l.ffn_norm,
                                  &l.w1, &l.w3, &l.w2})
      add(*t);
  KvLayout L;
  L.num_layer = w.config.num_layer;
  L.kv_head_num = w.config.kv_head_num;
  L.head_dim = w.config.size_per_head;
  L.block_len = 64;
  L.kind = KvKind::kF16;

  const uint64_t device = heap_in_use() + (uint64_t(768) << 20);  // 768 MiB free on the device
  setenv("LMD_CUDA_SHIM_DEVICE_MEMORY", std::to_string(device).c_str(), 1);
  const uint64_t free_bytes = device - heap_in_use();
  const int want = static_cast<int>(static_cast<double>(free_bytes - weights) * 0.4 / L.block_bytes());
  {
    auto engine = Engine::create(path, config("cuda", 0.4f));
    const EngineStats s = engine->stats();
    EXPECT_EQ(s.kv_block_bytes, L.block_bytes());
    EXPECT_EQ(s.kv_blocks_total, want) << "free " << free_bytes << ", weights " << weights;
    EXPECT_EQ(s.kv_pool_bytes, static_cast<uint64_t>(want) * L.block_bytes());
    EXPECT_LE(heap_in_use(), device) << "weights + pool must fit the simulated device";
  }
  // Too small a device for the weights: a clear error before any block is allocated.
  setenv("LMD_CUDA_SHIM_DEVICE_MEMORY", std::to_string(heap_in_use() + weights / 2).c_str(), 1);
  try {
    Engine::create(path, config("cuda", 0.4f));
    FAIL() << "a device smaller than the weights accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("leaves no room for one KV block"), std::string::npos) << e.what();
  }
  unsetenv("LMD_CUDA_SHIM_DEVICE_MEMORY");
  // A block count (>= 1) is taken as is, whatever the device size.
  auto engine = Engine::create(path, config("cuda", 7));
  EXPECT_EQ(engine->stats().kv_blocks_total, 7);
}

}  // namespace
}  // namespace lmd
