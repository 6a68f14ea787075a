// This binary's device kind "cuda" (src/backend/device_registry.h): the CUDA backend built by
// g++ against the CPU shim (lmd_backend_cuda_shim, cmake/cuda_shim), registered at start-up
// the way the CLI registers the nvcc build, so Engine::create(--device cuda|auto) finds it.
#include "backend/cuda/cuda_backend.h"

namespace {
const bool kShimDeviceRegistered = (lmd::register_cuda_device_kind(), true);
}  // namespace
