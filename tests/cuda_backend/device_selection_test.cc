// `lmdeploy check_env` and `--device` on a machine without a CUDA device (this project's
// machines): check_env says the backend is not built / finds no device, `--device cuda` is
// a one-line error naming the reason, `--device auto` runs on the CPU.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "common/paths.h"

namespace {

struct CmdResult {
  int status = -1;
  std::string out;  // stdout + stderr
};

CmdResult run(const std::string& args) {
  CmdResult r;
  const std::string cmd = std::string(LMD_BINARY) + " " + args + " 2>&1 </dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  r.status = pclose(p);
  return r;
}

std::string model_path() {
  const char* env = std::getenv("LMD_MODEL_PATH");
  return env && *env ? std::string(env) : lmd::default_model_path();
}

TEST(CudaDeviceSelection, CheckEnvListsNoDevice) {
  const CmdResult r = run("check_env");
  ASSERT_EQ(r.status, 0) << r.out;
  const size_t at = r.out.find("CUDA devices");
  ASSERT_NE(at, std::string::npos) << r.out;
  const std::string line = r.out.substr(at, r.out.find('\n', at) - at);
  if (LMDEPLOY_CUDA_ENABLED) {
    EXPECT_NE(line.find("none ("), std::string::npos) << line;  // built with nvcc, no GPU here
  } else {
    EXPECT_NE(line.find("not built"), std::string::npos) << line;
  }
}

TEST(CudaDeviceSelection, DeviceCudaIsAClearErrorAndAutoUsesTheCpu) {
  const std::string model = model_path();
  ASSERT_TRUE(std::ifstream(model).good()) << "model file " << model
                                           << " missing: run tools/fetch_model.sh or set LMD_MODEL_PATH";
  const CmdResult cuda = run("chat " + model + " --prompt Hello --max-new-tokens 1 --device cuda");
  EXPECT_NE(cuda.status, 0) << cuda.out;
  EXPECT_NE(cuda.out.find("--device cuda: no CUDA device ("), std::string::npos) << cuda.out;
  EXPECT_NE(cuda.out.find(LMDEPLOY_CUDA_ENABLED ? "cudaGetDeviceCount" : "no CUDA backend"), std::string::npos)
      << cuda.out;
  const CmdResult aut = run("chat " + model + " --prompt Hello --max-new-tokens 2 --device auto");
  EXPECT_EQ(aut.status, 0) << aut.out;
}

}  // namespace
