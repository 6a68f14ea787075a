// cuBLAS and NCCL are dlopen'ed at first use (backend/cuda/cublas_library.h,
// comm/nccl_communicator.h), never linked: a CPU run of a CUDA build must not map them (they
// are ~800 MB of files, ~200 MB of RSS from libcublasLt's initialisers alone), and check_env,
// which asks for them on purpose, must.
//
// How "mapped" is observed: the run is started with LD_DEBUG=files, with which glibc's dynamic
// linker prints every shared object it loads, both at start-up (DT_NEEDED, "needed by") and
// later through dlopen ("dynamically loaded by"), and "calling init: <path>" when it runs that
// object's initialisers. This sees both ways a library could arrive, needs no race against the
// process to read /proc/<pid>/maps, and the positive control (check_env) shows the same check
// does see a dlopen'ed library.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "backend/device_registry.h"
#include "comm/nccl_communicator.h"
#include "core/error.h"
#include "common/paths.h"

namespace lmd {
namespace {

struct LdDebugRun {
  int status = -1;
  std::string out;  // stdout + stderr (the dynamic linker's report goes to stderr)
};

LdDebugRun run_with_ld_debug(const std::string& args) {
  const char* env = std::getenv("LMD_BINARY");
  const std::string bin = env && *env ? env : LMD_BINARY;
  LdDebugRun r;
  FILE* p = ::popen(("LD_DEBUG=files " + bin + " " + args + " 2>&1 </dev/null").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// The libraries whose initialisers ran: the "calling init: <path>" lines.
std::string initialised(const std::string& ld_debug) {
  std::string paths;
  const std::string tag = "calling init: ";
  for (size_t at = ld_debug.find(tag); at != std::string::npos; at = ld_debug.find(tag, at + 1)) {
    const size_t begin = at + tag.size();
    paths += ld_debug.substr(begin, ld_debug.find('\n', begin) - begin) + "\n";
  }
  return paths;
}

// The check_env row `key`'s value ("" when the row is absent).
std::string check_env_row(const std::string& out, const std::string& key) {
  for (size_t at = out.find(key + " "); at != std::string::npos; at = out.find(key + " ", at + 1)) {
    if (at != 0 && out[at - 1] != '\n') continue;
    const size_t end = out.find('\n', at);
    const size_t value = out.find_first_not_of(' ', at + key.size());
    return out.substr(value, end - value);
  }
  return "";
}

std::string model_path() {
  const char* env = std::getenv("LMD_MODEL_PATH");
  return env && *env ? std::string(env) : default_model_path();
}

void expect_neither_cublas_nor_nccl(const LdDebugRun& r, const std::string& what) {
  const std::string init = initialised(r.out);
  // The report is really there: without it the absence below would prove nothing.
  ASSERT_NE(init.find("libstdc++.so"), std::string::npos) << what << ": no LD_DEBUG=files report:\n" << r.out;
  // Not even attempted: neither a DT_NEEDED entry nor a dlopen names them.
  EXPECT_EQ(r.out.find("libcublas"), std::string::npos) << what << " loads cuBLAS:\n" << init;
  EXPECT_EQ(r.out.find("libnccl"), std::string::npos) << what << " loads NCCL:\n" << init;
}

TEST(LazyCudaLibraries, HelpLoadsNeitherCublasNorNccl) {
  const LdDebugRun r = run_with_ld_debug("--help");
  ASSERT_EQ(r.status, 0) << r.out;
  expect_neither_cublas_nor_nccl(r, "lmdeploy --help");
}

TEST(LazyCudaLibraries, CpuChatLoadsNeitherCublasNorNccl) {
  const std::string model = model_path();
  ASSERT_TRUE(std::ifstream(model).good()) << "model file " << model
                                           << " missing: run tools/fetch_model.sh or set LMD_MODEL_PATH";
  // A prompt of more than 16 tokens: the step size at which a CUDA backend would use cuBLAS.
  const LdDebugRun r = run_with_ld_debug("chat " + model +
                                  " --prompt 'Name the three largest cities of France and say one thing about each "
                                  "of them, please.' --max-new-tokens 2 --device cpu --threads 2");
  ASSERT_EQ(r.status, 0) << r.out;
  expect_neither_cublas_nor_nccl(r, "a CPU chat");
}

TEST(LazyCudaLibraries, CheckEnvLoadsThemWhenAsked) {
  const LdDebugRun r = run_with_ld_debug("check_env");
  ASSERT_EQ(r.status, 0) << r.out;
  const std::string init = initialised(r.out);
  const std::string cublas = check_env_row(r.out, "cuBLAS"), nccl = check_env_row(r.out, "NCCL");
  if (!LMDEPLOY_CUDA_ENABLED) {
    EXPECT_EQ(cublas, "") << r.out;
    EXPECT_EQ(r.out.find("libcublas"), std::string::npos) << init;
    return;
  }
  // Each row names the library; when it says it loaded (a version, not "cannot be loaded"),
  // the dynamic linker did run that library's initialisers.
  ASSERT_FALSE(cublas.empty()) << r.out;
  EXPECT_NE(cublas.find("libcublas.so."), std::string::npos) << cublas;
  if (cublas.rfind("cannot be loaded: ", 0) != 0) {
    EXPECT_NE(init.find("/libcublas.so."), std::string::npos) << "check_env reports " << cublas
                                                              << " but the linker initialised:\n" << init;
  }
  ASSERT_FALSE(nccl.empty()) << r.out;
  if (!nccl_built()) {
    EXPECT_EQ(nccl.rfind("not built", 0), 0u) << nccl;
    return;
  }
  EXPECT_NE(nccl.find("libnccl.so."), std::string::npos) << nccl;
  if (nccl.rfind("cannot be loaded: ", 0) != 0) {
    EXPECT_NE(init.find("/libnccl.so."), std::string::npos) << "check_env reports " << nccl
                                                            << " but the linker initialised:\n" << init;
  }
}

TEST(LazyCudaLibraries, DeviceKindCudaOnlyWhereBuilt) {
  // unit_tests never links the CUDA backend (lmd_backend_cuda): "cuda" is not a device kind
  // here, and asking for it names the build option (cuBLAS loading itself is tested in
  // tests/cuda_device/cublas_library_test.cc, built with nvcc).
  EXPECT_EQ(find_device_kind("cuda"), nullptr);
  try {
    device_kind("cuda");
    FAIL() << "expected 'not available in this build'";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("no CUDA backend"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("available: cpu"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace lmd
