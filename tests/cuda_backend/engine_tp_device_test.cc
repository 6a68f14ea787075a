// Engine::create with a CUDA device and --tp > 1: one rank per device, so with the shim's one
// simulated device --tp 2 must fail before loading anything, naming how many devices exist;
// with enough devices it is still refused (NCCL is not wired into the model: docs/cuda.md).
#include <gtest/gtest.h>

#include <string>

#include "backend/cuda/cuda_backend.h"
#include "common/error.h"
#include "lmdeploy/engine.h"

namespace lmd {
namespace {

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

TEST(CudaEngineTp, EnoughDevicesIsRefusedUntilWired) {
  const size_t have = cuda_devices().size();
  if (have < 2) GTEST_SKIP() << "requires >= 2 CUDA devices (NCCL); " << have << " here";
  expect_refused("cuda", 2, "not wired into the model yet");
}

}  // namespace
}  // namespace lmd
