// cuda_device_memory() in a build without nvcc: no device memory to report.
// With nvcc (and in the shim test binary) cuda_backend.cu defines it.
#include "backend/cuda/device_pool.h"

#if !LMDEPLOY_CUDA_ENABLED

namespace lmd {

bool cuda_device_memory(int, DeviceMemoryInfo*, std::string* why) {
  if (why) *why = "this build has no CUDA backend";
  return false;
}

}  // namespace lmd

#endif
