// A caching allocator over cudaMalloc, one per CudaBackend (header-only: compiled by nvcc in
// cuda_backend.cu and by g++ against the shim in the tests).
//
// Why: cudaMalloc / cudaFree synchronise the device and cost tens of microseconds; the model
// frees and re-allocates activation buffers as batch sizes change. Freed blocks are kept and
// handed out again instead.
//
// Policy (blocks are never split, so every pointer is a cudaMalloc base: 256-byte aligned):
//   * sizes are rounded to 512 B up to 1 MiB and to 2 MiB above (size classes);
//   * a request takes the smallest cached block of at least its rounded size (best fit),
//     if that block wastes at most a quarter of it; else cudaMalloc;
//   * when cudaMalloc fails, every cached block is released and the call retried once; a
//     second failure throws lmd::Error (kResourceExhausted) naming the size, the pool's
//     counters and cudaMemGetInfo;
//   * deallocate() of a pointer the pool did not hand out throws (kInternal);
//   * the destructor returns everything (live and cached) to the driver.
// Thread-safe (one mutex). The caller orders frees after the kernels that use the block.
#pragma once

#include <algorithm>
#include <cstddef>
#include <map>
#include <mutex>
#include <sstream>
#include <unordered_map>

#include "backend/cuda/device_pool.h"
#include "core/error.h"
#include "kernels/cuda/shim/cuda_compat.h"

namespace lmd::cuda {

class DevicePool {
 public:
  static constexpr size_t kSmallLimit = size_t(1) << 20;
  static constexpr size_t kSmallRound = 512;
  static constexpr size_t kLargeRound = size_t(2) << 20;

  explicit DevicePool(int device = 0) : device_(device) {}
  DevicePool(const DevicePool&) = delete;
  DevicePool& operator=(const DevicePool&) = delete;
  ~DevicePool() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [p, bytes] : live_) cudaFree(p);
    for (auto& [bytes, p] : free_) cudaFree(p);
  }

  // The block size a request of `bytes` gets.
  static size_t round_size(size_t bytes) {
    if (bytes == 0) return kSmallRound;
    const size_t r = bytes <= kSmallLimit ? kSmallRound : kLargeRound;
    return (bytes + r - 1) / r * r;
  }

  void* allocate(size_t bytes) {
    const size_t size = round_size(bytes);
    std::lock_guard<std::mutex> lock(mu_);
    auto it = free_.lower_bound(size);
    void* p = nullptr;
    size_t got = size;
    if (it != free_.end() && it->first - size <= size / 4) {
      p = it->second;
      got = it->first;
      free_.erase(it);
      stats_.cached -= got;
      ++stats_.reuses;
    } else {
      cudaError_t e = cudaMalloc(&p, size);
      if (e != cudaSuccess) {
        cudaGetLastError();  // clear the error before retrying
        release_cached_locked();
        e = cudaMalloc(&p, size);
      }
      if (e != cudaSuccess) {
        cudaGetLastError();
        size_t free_b = 0, total_b = 0;
        const bool info = cudaMemGetInfo(&free_b, &total_b) == cudaSuccess;
        std::ostringstream msg;
        msg << "cuda device pool: cannot allocate " << bytes << " bytes (block " << size << ") on device "
            << device_ << ": " << cudaGetErrorString(e) << "; pool reserved " << stats_.reserved << ", in use "
            << stats_.in_use << " bytes";
        if (info) msg << "; cudaMemGetInfo: " << free_b << " of " << total_b << " bytes free";
        throw Error(msg.str(), Error::Kind::kResourceExhausted);
      }
      ++stats_.mallocs;
      stats_.reserved += size;
    }
    live_[p] = got;
    stats_.in_use += got;
    stats_.peak_in_use = std::max(stats_.peak_in_use, stats_.in_use);
    return p;
  }

  void deallocate(void* p) {
    if (!p) return;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = live_.find(p);
    LMD_CHECK_KIND(it != live_.end(), kInternal)
        << "cuda device pool: free of a pointer the pool did not allocate (or freed twice) on device " << device_;
    const size_t size = it->second;
    live_.erase(it);
    stats_.in_use -= size;
    free_.emplace(size, p);
    stats_.cached += size;
  }

  // Returns every cached block to the driver (live blocks stay).
  void empty_cache() {
    std::lock_guard<std::mutex> lock(mu_);
    release_cached_locked();
  }

  // The size of the live block at p (0 when p is not one).
  size_t block_size(const void* p) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = live_.find(const_cast<void*>(p));
    return it == live_.end() ? 0 : it->second;
  }

  DevicePoolStats stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

 private:
  void release_cached_locked() {
    for (auto& [bytes, p] : free_) {
      cudaFree(p);
      stats_.reserved -= bytes;
    }
    free_.clear();
    stats_.cached = 0;
  }

  int device_;
  mutable std::mutex mu_;
  std::unordered_map<void*, size_t> live_;  // block -> its (rounded) size
  std::multimap<size_t, void*> free_;       // cached blocks by size
  DevicePoolStats stats_;
};

}  // namespace lmd::cuda
