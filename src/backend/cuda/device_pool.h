// Device memory facts without CUDA headers (plain C++): the free / total memory of a CUDA
// device (the "cuda" device kind's memory(), which sizes the KV pool from device memory) and
// the caching pool's counters. The allocator itself is header-only in device_pool.cuh (it
// needs the CUDA runtime or the shim). Defined in cuda_backend.cu (nvcc, and the shim test
// binary).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "backend/device_registry.h"

namespace lmd {

// Fills *out (cudaMemGetInfo's free and total) for `device` and returns true; false (with the
// reason in *why when given) when the runtime call fails.
bool cuda_device_memory(int device, DeviceMemory* out, std::string* why = nullptr);

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
