// NcclCommunicator (src/comm/nccl_communicator.h). This machine has no GPU and the CUDA shim
// does not cover NCCL, so here: the library loads and reports its version, and creating
// communicators fails with a clear lmd::Error. On a machine with >= 2 CUDA devices the
// all-reduce test runs for real (rank threads, device buffers, integer-valued floats so any
// summation order gives the exact sum).
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "comm/nccl_communicator.h"
#include "core/error.h"

#if LMDEPLOY_NCCL_ENABLED
#include <cuda_runtime.h>
#include <nccl.h>  // NCCL_MAJOR
#endif

namespace lmd {
namespace {

#if LMDEPLOY_NCCL_ENABLED

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

TEST(NcclCommunicator, BuiltAndReportsVersion) {
  EXPECT_TRUE(nccl_built());
  const std::string v = nccl_version();
  EXPECT_EQ(v.find("2."), 0u) << v;  // NCCL 2.x is what the toolkit ships
}

// libnccl is not linked but dlopen'ed: the version above came from the library found at run
// time, whose soname major is the nccl.h one compiled against.
TEST(NcclCommunicator, LibraryIsLoadedAtRunTime) {
  const LoadedLibraryInfo lib = nccl_library();
  EXPECT_NE(lib.path.find("libnccl.so." + std::to_string(NCCL_MAJOR)), std::string::npos) << lib.path;
  EXPECT_EQ(lib.version, nccl_version());
  EXPECT_EQ(lib.version.rfind(std::to_string(NCCL_MAJOR) + ".", 0), 0u) << lib.version;
}

TEST(NcclCommunicator, TooFewDevicesIsAClearError) {
  const int have = device_count();
  std::vector<int> devices;
  for (int d = 0; d <= have; ++d) devices.push_back(d);  // one more than exist
  try {
    create_nccl_communicators(devices);
    FAIL() << "expected an error for " << devices.size() << " ranks on " << have << " device(s)";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kUnsupported);
    const std::string m = e.what();
    EXPECT_NE(m.find("CUDA device"), std::string::npos) << m;
    EXPECT_NE(m.find(std::to_string(devices.size()) + " rank(s)"), std::string::npos) << m;
  }
}

TEST(NcclCommunicator, RejectsDuplicateOrMissingDevices) {
  EXPECT_THROW(create_nccl_communicators({}), Error);
  if (device_count() < 1) GTEST_SKIP() << "requires >= 1 CUDA device (NCCL)";
  EXPECT_THROW(create_nccl_communicators({0, 0}), Error);
}

TEST(NcclCommunicator, AllReduceSumOnTwoDevices) {
  const int have = device_count();
  if (have < 2) GTEST_SKIP() << "requires >= 2 CUDA devices (NCCL); this machine has " << have;
  const int n = 2;
  const size_t count = 4099;  // not a multiple of anything NCCL chunks by
  auto comms = create_nccl_communicators({0, 1});
  ASSERT_EQ(comms.size(), 2u);
  std::vector<std::vector<float>> out(n, std::vector<float>(count));
  std::vector<std::string> errors(n);
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r)
    threads.emplace_back([&, r] {
      try {
        EXPECT_EQ(comms[r]->rank(), r);
        EXPECT_EQ(comms[r]->size(), n);
        std::vector<float> h(count);
        for (size_t i = 0; i < count; ++i) h[i] = static_cast<float>((i % 97) * (r + 1));
        cudaSetDevice(r);
        float* d = nullptr;
        ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&d), count * sizeof(float)), cudaSuccess);
        cudaMemcpy(d, h.data(), count * sizeof(float), cudaMemcpyHostToDevice);
        comms[r]->all_reduce_sum(d, count);
        comms[r]->barrier();
        cudaMemcpy(out[r].data(), d, count * sizeof(float), cudaMemcpyDeviceToHost);
        cudaFree(d);
      } catch (const std::exception& e) {
        errors[r] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  for (int r = 0; r < n; ++r) {
    ASSERT_TRUE(errors[r].empty()) << "rank " << r << ": " << errors[r];
    for (size_t i = 0; i < count; ++i)
      ASSERT_EQ(out[r][i], static_cast<float>((i % 97) * 3)) << "rank " << r << " element " << i;
  }
}

#else  // built without NCCL: the stub's error

TEST(NcclCommunicator, NotBuiltIsAClearError) {
  EXPECT_FALSE(nccl_built());
  try {
    create_nccl_communicators({0, 1});
    FAIL() << "expected 'no NCCL' error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("no NCCL"), std::string::npos) << e.what();
  }
  EXPECT_THROW(nccl_version(), Error);
}

#endif

}  // namespace
}  // namespace lmd
