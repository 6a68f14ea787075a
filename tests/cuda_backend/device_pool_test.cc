// The CUDA backend's caching allocator (src/backend/cuda/device_pool.cuh) over the shim's
// cudaMalloc, cuda_device_memory(), and the backend's alloc/free through the pool.
// The shim's device size is set with env LMD_CUDA_SHIM_DEVICE_MEMORY to reach out-of-memory.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/device_pool.cuh"
#include "backend/cuda/device_pool.h"
#include "core/error.h"

namespace lmd {
namespace {

size_t heap_in_use() {
  auto& h = shim::device_heap();
  std::lock_guard<std::mutex> lock(h.mu);
  return h.bytes_in_use;
}

// Sets LMD_CUDA_SHIM_DEVICE_MEMORY for the scope.
class ShimDeviceMemory {
 public:
  explicit ShimDeviceMemory(size_t bytes) { setenv("LMD_CUDA_SHIM_DEVICE_MEMORY", std::to_string(bytes).c_str(), 1); }
  ~ShimDeviceMemory() { unsetenv("LMD_CUDA_SHIM_DEVICE_MEMORY"); }
};

TEST(CudaDevicePool, RoundsToSizeClasses) {
  using P = cuda::DevicePool;
  EXPECT_EQ(P::round_size(0), 512u);
  EXPECT_EQ(P::round_size(1), 512u);
  EXPECT_EQ(P::round_size(512), 512u);
  EXPECT_EQ(P::round_size(513), 1024u);
  EXPECT_EQ(P::round_size(size_t(1) << 20), size_t(1) << 20);
  EXPECT_EQ(P::round_size((size_t(1) << 20) + 1), size_t(2) << 20);
  EXPECT_EQ(P::round_size((size_t(5) << 20) + 7), size_t(6) << 20);
}

TEST(CudaDevicePool, ReusesFreedBlocksBestFitAndCountsBytes) {
  const size_t base = heap_in_use();
  {
    cuda::DevicePool pool;
    void* a = pool.allocate(1000);   // block 1024
    void* b = pool.allocate(5000);   // block 5120
    void* c = pool.allocate(3 << 20);  // block 4 MiB
    for (void* p : {a, b, c}) EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 256, 0u) << "not 256-byte aligned";
    DevicePoolStats s = pool.stats();
    EXPECT_EQ(s.in_use, 1024u + 5120u + (4u << 20));
    EXPECT_EQ(s.reserved, s.in_use);
    EXPECT_EQ(s.mallocs, 3u);
    EXPECT_EQ(heap_in_use() - base, s.reserved);
    EXPECT_EQ(pool.block_size(b), 5120u);
    EXPECT_EQ(pool.block_size(static_cast<char*>(b) + 1), 0u);

    pool.deallocate(a);
    pool.deallocate(b);
    s = pool.stats();
    EXPECT_EQ(s.cached, 1024u + 5120u);
    EXPECT_EQ(s.in_use, 4u << 20);
    EXPECT_EQ(s.peak_in_use, 1024u + 5120u + (4u << 20));
    // 4500 -> 4608: the best fit is b's 5120 block (waste 512 <= 4608 / 4), not a new malloc.
    EXPECT_EQ(pool.allocate(4500), b);
    // 600 -> 1024: a's block, exactly.
    EXPECT_EQ(pool.allocate(600), a);
    s = pool.stats();
    EXPECT_EQ(s.reuses, 2u);
    EXPECT_EQ(s.mallocs, 3u);
    EXPECT_EQ(s.cached, 0u);

    // A small request does not take a much larger cached block (waste > a quarter).
    pool.deallocate(c);
    void* d = pool.allocate(1 << 20);
    EXPECT_NE(d, c);
    EXPECT_EQ(pool.stats().mallocs, 4u);
    EXPECT_EQ(pool.stats().cached, 4u << 20);
    // empty_cache gives cached blocks back to the driver, live ones stay.
    pool.empty_cache();
    s = pool.stats();
    EXPECT_EQ(s.cached, 0u);
    EXPECT_EQ(s.reserved, s.in_use);
    EXPECT_EQ(heap_in_use() - base, s.reserved);
  }
  EXPECT_EQ(heap_in_use(), base) << "the pool's destructor must return every block";
}

TEST(CudaDevicePool, ForeignAndDoubleFreesAreErrors) {
  cuda::DevicePool pool;
  int host = 0;
  try {
    pool.deallocate(&host);
    FAIL() << "foreign pointer accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kInternal);
    EXPECT_NE(std::string(e.what()).find("did not allocate"), std::string::npos) << e.what();
  }
  void* p = pool.allocate(100);
  pool.deallocate(p);
  EXPECT_THROW(pool.deallocate(p), Error);
  pool.deallocate(nullptr);  // a no-op, as cudaFree(nullptr)
}

TEST(CudaDevicePool, OutOfMemoryReleasesTheCacheThenNamesSizeAndFreeMemory) {
  const size_t base = heap_in_use();
  ShimDeviceMemory limit(base + (size_t(16) << 20));  // 16 MiB left on the simulated device
  cuda::DevicePool pool;
  void* a = pool.allocate(size_t(10) << 20);
  pool.deallocate(a);  // cached: 10 MiB reserved, 6 MiB free on the device
  // 12 MiB fits only once the cached block is released: the pool retries after emptying.
  void* b = pool.allocate(size_t(12) << 20);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(pool.stats().cached, 0u);
  EXPECT_EQ(pool.stats().reserved, size_t(12) << 20);
  try {
    pool.allocate(size_t(8) << 20);
    FAIL() << "allocation beyond the device accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kResourceExhausted);
    const std::string m = e.what();
    EXPECT_NE(m.find("cannot allocate 8388608 bytes"), std::string::npos) << m;
    EXPECT_NE(m.find("cudaMemGetInfo: " + std::to_string(size_t(4) << 20) + " of "), std::string::npos) << m;
    EXPECT_NE(m.find("in use 12582912"), std::string::npos) << m;
  }
}

TEST(CudaDevicePool, DeviceMemoryFollowsTheShimDevice) {
  const size_t base = heap_in_use();
  ShimDeviceMemory limit(size_t(3) << 30);
  DeviceMemory m;
  std::string why;
  ASSERT_TRUE(cuda_device_memory(0, &m, &why)) << why;
  EXPECT_EQ(m.total_bytes, size_t(3) << 30);
  EXPECT_EQ(m.free_bytes, (size_t(3) << 30) - base);
  {
    cuda::DevicePool pool;
    pool.allocate(size_t(64) << 20);
    ASSERT_TRUE(cuda_device_memory(0, &m, &why)) << why;
    EXPECT_EQ(m.free_bytes, (size_t(3) << 30) - base - (size_t(64) << 20));
  }
  EXPECT_FALSE(cuda_device_memory(7, &m, &why));
  EXPECT_NE(why.find("device 7"), std::string::npos) << why;
}

TEST(CudaDevicePool, BackendAllocFreeGoThroughThePool) {
  auto be = create_cuda_backend();
  const size_t base = heap_in_use();
  float* a = static_cast<float*>(be->alloc(4000 * sizeof(float)));
  const std::vector<float> ones(4000, 1.0f);
  be->copy_to_device(a, ones.data(), ones.size() * sizeof(float));
  be->free(a);
  const size_t reserved = heap_in_use() - base;
  EXPECT_GE(reserved, 4000 * sizeof(float)) << "the freed block stays reserved (cached)";
  // The same size again: the cached block, zero-filled as alloc() promises.
  float* b = static_cast<float*>(be->alloc(4000 * sizeof(float)));
  EXPECT_EQ(b, a);
  EXPECT_EQ(heap_in_use() - base, reserved) << "a cached block was reused, no new cudaMalloc";
  std::vector<float> back(4000, -1.0f);
  be->copy_to_host(back.data(), b, back.size() * sizeof(float));
  for (float v : back) ASSERT_EQ(v, 0.0f);
  int host = 0;
  EXPECT_THROW(be->free(&host), Error);
  be->free(b);
  be.reset();
  EXPECT_EQ(heap_in_use(), base) << "the backend's pool returns everything on destruction";
}

TEST(CudaDevicePool, BackendOutOfMemoryIsAClearError) {
  auto be = create_cuda_backend();
  ShimDeviceMemory limit(heap_in_use() + (size_t(1) << 20));
  try {
    be->alloc(size_t(2) << 20);
    FAIL() << "2 MiB on a device with 1 MiB free accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kResourceExhausted);
    EXPECT_NE(std::string(e.what()).find("cannot allocate 2097152 bytes"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace lmd
