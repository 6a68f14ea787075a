// The CUDA backend's entry points in a build without nvcc (LMDEPLOY_CUDA=OFF): no devices,
// and a clear error for `--device cuda`. With nvcc, cuda_backend.cu defines them instead.
#include "backend/cuda/cuda_backend.h"

#include "common/error.h"

#if !LMDEPLOY_CUDA_ENABLED

namespace lmd {

bool cuda_backend_built() { return false; }

std::vector<CudaDeviceInfo> cuda_devices(std::string* why_none) {
  if (why_none) *why_none = "this build has no CUDA backend (configure with -DLMDEPLOY_CUDA=ON and nvcc)";
  return {};
}

std::unique_ptr<Backend> create_cuda_backend(const CudaBackendOptions&) {
  throw Error("CUDA backend: this build has no CUDA support (rebuild with -DLMDEPLOY_CUDA=ON; see docs/cuda.md)",
              Error::Kind::kUnsupported);
}

}  // namespace lmd

#endif
