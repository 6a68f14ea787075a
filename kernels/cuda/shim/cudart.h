// The host runtime API of the CUDA-on-CPU shim: the cudaMalloc / cudaMemcpy / stream entry
// points the CUDA backend (src/backend/cuda) calls, with the toolkit's own types from
// driver_types.h so the backend's source is the same under nvcc and g++.
//
// "Device" memory is host memory. Fresh allocations are filled with 0xFF (NaN for floats),
// as the shared-memory arena is, so a backend that forgets to clear a buffer is caught.
// Kernels run synchronously at launch (on the launching host thread, whose fiber state is
// thread_local in runtime.h, so ranks on several host threads launch concurrently), so
// streams are ordered trivially and synchronisation is a no-op; a live-allocation table
// still catches frees of pointers that were never allocated and out-of-range copies into a
// known allocation.
// Only ever included through kernels/cuda/shim/cuda_compat.h.
#pragma once

#include <driver_types.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

namespace lmd::shim {

struct DeviceHeap {
  std::mutex mu;
  std::map<const unsigned char*, size_t> live;  // base -> bytes
  size_t bytes_in_use = 0;
};

inline DeviceHeap& device_heap() {
  static DeviceHeap* h = new DeviceHeap;  // never freed: outlives static destructors
  return *h;
}

// True when [p, p + bytes) lies inside one live allocation, or p is not inside any
// (host memory: the caller's business). False when p is in an allocation but the range
// overruns it.
inline bool device_range_ok(const void* p, size_t bytes) {
  DeviceHeap& h = device_heap();
  std::lock_guard<std::mutex> lock(h.mu);
  const auto* c = static_cast<const unsigned char*>(p);
  auto it = h.live.upper_bound(c);
  if (it == h.live.begin()) return true;
  --it;
  if (c >= it->first + it->second) return true;
  return c + bytes <= it->first + it->second;
}

// The simulated device's memory size (what cudaMemGetInfo / cudaDeviceProp report, and the
// limit cudaMalloc enforces): 8 GiB, or env LMD_CUDA_SHIM_DEVICE_MEMORY (bytes) when set —
// read at every call so a test can shrink the device to exercise out-of-memory paths.
constexpr size_t kShimDeviceMemory = size_t(8) << 30;
inline size_t shim_device_memory() {
  const char* env = std::getenv("LMD_CUDA_SHIM_DEVICE_MEMORY");
  if (!env || !*env) return kShimDeviceMemory;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(env, &end, 10);
  return end && *end == '\0' && v > 0 ? static_cast<size_t>(v) : kShimDeviceMemory;
}

// Simulated devices: 1, or env LMD_CUDA_SHIM_DEVICES (1..64) — read at every call, so a test
// can ask for several (tensor-parallel ranks, one per device). They share one heap (the
// memory limit and cudaMemGetInfo count all devices' allocations together) and, since a
// launch runs at once on the calling host thread, need no further separation.
inline int shim_device_count() {
  const char* env = std::getenv("LMD_CUDA_SHIM_DEVICES");
  if (!env || !*env) return 1;
  char* end = nullptr;
  const long v = std::strtol(env, &end, 10);
  return end && *end == '\0' && v >= 1 && v <= 64 ? static_cast<int>(v) : 1;
}

// The device of the calling host thread (cudaSetDevice / cudaGetDevice), as in CUDA: each
// thread starts on device 0.
inline int& current_device() {
  static thread_local int device = 0;
  return device;
}

}  // namespace lmd::shim

inline cudaError_t cudaMalloc(void** ptr, size_t bytes) {
  if (!ptr) return cudaErrorInvalidValue;
  const size_t rounded = (bytes + 255) / 256 * 256;
  auto& h = ::lmd::shim::device_heap();
  {
    std::lock_guard<std::mutex> lock(h.mu);
    if (bytes > ::lmd::shim::shim_device_memory() - std::min(h.bytes_in_use, ::lmd::shim::shim_device_memory()))
      return cudaErrorMemoryAllocation;  // the simulated device is full
  }
  void* p = std::aligned_alloc(256, rounded == 0 ? 256 : rounded);
  if (!p) return cudaErrorMemoryAllocation;
  std::memset(p, 0xFF, rounded == 0 ? 256 : rounded);
  std::lock_guard<std::mutex> lock(h.mu);
  h.live[static_cast<unsigned char*>(p)] = bytes;
  h.bytes_in_use += bytes;
  *ptr = p;
  return cudaSuccess;
}

inline cudaError_t cudaFree(void* p) {
  if (!p) return cudaSuccess;
  auto& h = ::lmd::shim::device_heap();
  {
    std::lock_guard<std::mutex> lock(h.mu);
    auto it = h.live.find(static_cast<unsigned char*>(p));
    if (it == h.live.end()) return cudaErrorInvalidValue;
    h.bytes_in_use -= it->second;
    h.live.erase(it);
  }
  std::free(p);
  return cudaSuccess;
}

inline cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind) {
  if (bytes == 0) return cudaSuccess;
  if (!dst || !src) return cudaErrorInvalidValue;
  if (!::lmd::shim::device_range_ok(dst, bytes) || !::lmd::shim::device_range_ok(src, bytes))
    return cudaErrorInvalidValue;
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}

// (The toolkit's cuda_runtime_api.h, reached through vector_functions.h, already declares
// these functions with C linkage and default stream arguments; the shim defines them.)
inline cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t) {
  return cudaMemcpy(dst, src, bytes, kind);
}

inline cudaError_t cudaMemset(void* dst, int value, size_t bytes) {
  if (bytes == 0) return cudaSuccess;
  if (!dst || !::lmd::shim::device_range_ok(dst, bytes)) return cudaErrorInvalidValue;
  std::memset(dst, value, bytes);
  return cudaSuccess;
}

inline cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t) {
  return cudaMemset(dst, value, bytes);
}

// Streams: distinct non-null handles (kernels run at launch, so there is nothing to order).
inline cudaError_t cudaStreamCreate(cudaStream_t* s) {
  if (!s) return cudaErrorInvalidValue;
  static char handles[64];
  static std::atomic<unsigned> next{0};  // backends on several host threads create streams
  *s = reinterpret_cast<cudaStream_t>(&handles[next.fetch_add(1) % 64]);
  return cudaSuccess;
}
inline cudaError_t cudaStreamDestroy(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
inline cudaError_t cudaSetDevice(int device) {
  if (device < 0 || device >= ::lmd::shim::shim_device_count()) return cudaErrorInvalidDevice;
  ::lmd::shim::current_device() = device;
  return cudaSuccess;
}
inline cudaError_t cudaGetDevice(int* device) {
  if (!device) return cudaErrorInvalidValue;
  *device = ::lmd::shim::current_device();
  return cudaSuccess;
}
inline cudaError_t cudaGetLastError() { return cudaSuccess; }  // launch errors are thrown
inline cudaError_t cudaPeekAtLastError() { return cudaSuccess; }

inline cudaError_t cudaGetDeviceCount(int* n) {
  if (!n) return cudaErrorInvalidValue;
  *n = ::lmd::shim::shim_device_count();
  return cudaSuccess;
}

inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (!prop) return cudaErrorInvalidValue;
  if (device < 0 || device >= ::lmd::shim::shim_device_count()) return cudaErrorInvalidDevice;
  std::memset(prop, 0, sizeof(*prop));
  std::strncpy(prop->name, "CUDA shim (CPU simulation)", sizeof(prop->name) - 1);
  prop->totalGlobalMem = ::lmd::shim::shim_device_memory();
  prop->major = 8;  // the kernels' minimum target
  prop->minor = 0;
  prop->warpSize = 32;
  prop->maxThreadsPerBlock = ::lmd::shim::kMaxThreadsPerBlock;
  prop->sharedMemPerBlock = ::lmd::shim::kMaxSharedBytes;
  return cudaSuccess;
}

inline cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  auto& h = ::lmd::shim::device_heap();
  std::lock_guard<std::mutex> lock(h.mu);
  const size_t total = ::lmd::shim::shim_device_memory();
  if (total_bytes) *total_bytes = total;
  if (free_bytes) *free_bytes = h.bytes_in_use < total ? total - h.bytes_in_use : 0;
  return cudaSuccess;
}

inline const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument (shim: null pointer or a copy past an allocation)";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    default: return "cuda shim error";
  }
}
