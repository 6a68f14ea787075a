// The CUDA backend: the whole Backend op set (src/backend/backend.h) on the kernels of
// kernels/cuda, device memory from cudaMalloc, one stream per backend.
//
// One source (cuda_backend.cu), two builds:
//   * nvcc (-DLMDEPLOY_CUDA=ON, library lmd_backend_cuda): the real backend behind
//     `--device cuda`; these functions talk to the CUDA runtime;
//   * g++ against the CUDA-on-CPU shim (library lmd_backend_cuda_shim, linked by the test
//     binary cuda_backend_shim_tests): the same code runs every kernel on fibers; the shim
//     reports one simulated device.
// A build without nvcc has no CUDA backend at all: the device kind "cuda" is then never
// registered and `--device cuda` is an error naming the kinds that are.
//
// Activations are fp32 on the device; weights keep their format (int4 group-wise W4A16,
// int8 group-wise, f32 / f16 / bf16 dense). Host pointers the interface allows (token ids,
// gather rows, a linear output such as the model's logits buffer) are staged through the
// device. Static int8 kv_qparams are not applied on the device (the engine refuses such a
// model on CUDA; llama.cc writes them on the host).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"

namespace lmd {

struct CudaBackendOptions {
  int device = 0;
  // Positions per split of the split-K attention (partial results merged by a reduce kernel).
  int attention_split_len = 256;
};

struct CudaDeviceInfo {
  int index = 0;
  std::string name;
  size_t total_bytes = 0;
  int cc_major = 0, cc_minor = 0;
};

// The visible devices; empty when none (or not built). `why_none`, when given and the list is
// empty, receives the reason (e.g. the CUDA runtime's error for cudaGetDeviceCount).
std::vector<CudaDeviceInfo> cuda_devices(std::string* why_none = nullptr);
// Throws lmd::Error (kUnsupported) when not built or the device cannot be used.
std::unique_ptr<Backend> create_cuda_backend(const CudaBackendOptions& opt = {});
// Registers the device kind "cuda" (src/backend/device_registry.h) with these functions: what
// a binary built with nvcc calls at start-up to offer `--device cuda`; the shim test binary
// calls its own build of it.
void register_cuda_device_kind();

}  // namespace lmd
