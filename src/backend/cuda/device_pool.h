// Device memory facts the engine needs without CUDA headers (plain C++, every build):
// the free / total memory of a CUDA device, used to size the KV pool from device memory.
// The caching allocator itself is header-only in device_pool.cuh (it needs the CUDA runtime
// or the shim). Definitions: cuda_backend.cu (nvcc, and the shim test binary);
// device_pool_stub.cc in a build without nvcc ("not built").
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace lmd {

struct DeviceMemoryInfo {
  uint64_t free_bytes = 0;   // cudaMemGetInfo's free
  uint64_t total_bytes = 0;  // cudaMemGetInfo's total
};

// Fills *out for `device` and returns true; false (with the reason in *why when given) when
// the build has no CUDA backend or the runtime call fails.
bool cuda_device_memory(int device, DeviceMemoryInfo* out, std::string* why = nullptr);

// Counters of a DevicePool (device_pool.cuh), in bytes.
struct DevicePoolStats {
  uint64_t reserved = 0;   // held from cudaMalloc (in use + cached)
  uint64_t in_use = 0;     // handed out (rounded sizes)
  uint64_t peak_in_use = 0;
  uint64_t cached = 0;     // free blocks kept for reuse
  uint64_t mallocs = 0;    // cudaMalloc calls made
  uint64_t reuses = 0;     // requests served from the cache
};

}  // namespace lmd
