// How many KV blocks the pool gets (lmdeploy's cache_max_entry_count, CPU meaning):
//   >= 1  the number of blocks;
//   < 1   that fraction of the memory available for the cache — MemAvailable
//         (/proc/meminfo) on the CPU, the devices' free memory (cudaMemGetInfo, summed over
//         the tp devices) on CUDA, as lmdeploy — minus the bytes the model's weights will
//         still take — divided by the block size, and never more than max_batch_size full
//         sessions need (more could never be used).
// Throws lmd::Error naming the value when it is not > 0 or gives no block at all.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lmd {

struct KvPoolRequest {
  float cache_max_entry_count = 0.5f;
  size_t block_bytes = 0;
  uint64_t available_bytes = 0;  // MemAvailable, or the CUDA devices' free bytes
  uint64_t weight_bytes = 0;     // still to be allocated by the model
  int max_batch_size = 1;
  int session_len = 2048;
  int block_len = 64;
};

int32_t kv_pool_blocks(const KvPoolRequest& r);

}  // namespace lmd
