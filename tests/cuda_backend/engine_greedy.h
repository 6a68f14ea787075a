// Shared by the engine-level CUDA tests: the model under test and a short greedy run.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "common/paths.h"
#include "kernels/cuda/shim/cuda_compat.h"
#include "lmdeploy/engine.h"

namespace lmd::test {

inline std::string model_path() {
  const char* env = std::getenv("LMD_MODEL_PATH");
  return env && *env ? std::string(env) : default_model_path();
}

// The engine's counters once `finished` requests are counted: they are published after the
// step that pushed the requests' last chunks, so a reader may briefly see the step before.
inline EngineStats settled_stats(const Engine& engine, int64_t finished) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  EngineStats s = engine.stats();
  while (s.requests_finished < finished && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    s = engine.stats();
  }
  EXPECT_EQ(s.requests_finished, finished);
  return s;
}

// 3 greedy tokens of `prompt` (exact numerics, tiny KV pool); *device_bytes: the shim's
// device memory in use while the engine lives (> 0 only when it runs on the CUDA backend);
// *stats (when given): the engine's counters at the end.
inline std::vector<int32_t> greedy(const std::string& device, int tp, const std::string& prompt,
                                   size_t* device_bytes, EngineStats* stats = nullptr) {
  EngineConfig cfg;
  cfg.device = device;
  cfg.tp = tp;
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
  if (stats) *stats = settled_stats(*engine, 1);
  EXPECT_TRUE(out.finish_reason == "length" || out.finish_reason == "stop") << out.finish_reason << " " << out.error;
  return out.token_ids;
}

}  // namespace lmd::test
