// The CUDA tensor-parallel ranks' communicators in this binary: its CUDA runtime is the
// CPU shim, whose device memory is host memory, so the CPU all-reduce stands in for NCCL
// (which the shim does not cover). Overrides lmdeploy_core's definition
// (src/comm/cuda_communicators.cc), as shim_backend.cc overrides the backend's entry points.
#include "comm/cpu_communicator.h"
#include "comm/nccl_communicator.h"

namespace lmd {

std::vector<std::unique_ptr<Communicator>> create_cuda_communicators(const std::vector<int>& devices) {
  return create_cpu_communicators(static_cast<int>(devices.size()));
}

}  // namespace lmd
