// create_cuda_communicators (nccl_communicator.h), alone in this file: the shim test binary
// defines its own (CPU communicators), and the archive member holding this definition is then
// never pulled into that binary.
#include "comm/nccl_communicator.h"

namespace lmd {

std::vector<std::unique_ptr<Communicator>> create_cuda_communicators(const std::vector<int>& devices) {
  return create_nccl_communicators(devices);
}

}  // namespace lmd
