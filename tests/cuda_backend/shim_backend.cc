// The CUDA backend's source compiled by g++ against the CUDA-on-CPU shim (no nvcc, no GPU):
// the test binary runs exactly the code nvcc builds for `--device cuda`, registered as the
// device kind "cuda" (src/backend/device_registry.h) like the CLI registers the nvcc build.
#include "backend/cuda/cuda_backend.cu"

namespace {
const bool kShimDeviceRegistered = (lmd::register_cuda_device_kind(), true);
}  // namespace
