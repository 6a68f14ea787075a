// The kinds of device a model can run on, chosen at run time by name (`--device cpu|cuda|auto`)
// instead of by which library a binary happened to link:
//   * "cpu": always registered (this library: src/backend/cpu);
//   * "cuda": registered by register_cuda_device_kind() (src/backend/cuda/cuda_backend.h), which
//     the binaries built with nvcc call at start-up (the CLI, the Python module); the CUDA shim
//     test binary registers the same backend compiled against the CPU shim.
// Registering a name again replaces its entry. The registry is process-wide and thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "comm/communicator.h"
#include "common/dynlib.h"

namespace lmd {

struct BackendOptions {
  int device = 0;                   // device index within the kind (cpu: ignored)
  int threads = 0;                  // cpu: 0 = hardware concurrency
  bool exact = false;               // cpu: fp32 activations in every linear
  bool llamacpp_numerics = false;   // cpu: llama.cpp's float operations (CpuBackendOptions)
};

struct DeviceInfo {
  int index = 0;
  std::string name;       // "AMD EPYC ...", "NVIDIA H100 ..."
  std::string detail;     // e.g. "sm_90"
  uint64_t total_bytes = 0;
};

struct DeviceMemory {
  uint64_t free_bytes = 0;
  uint64_t total_bytes = 0;
};

// A library a device kind loads at first use (check_env reports whether it loads).
struct LibraryProbe {
  std::string name;                          // "cuBLAS"
  std::function<LoadedLibraryInfo()> load;   // throws lmd::Error naming the library
  std::string not_built;                     // non-empty: support was not compiled in (why)
};

struct DeviceKind {
  std::string name;
  // Buffers from its backends' alloc() are host memory: the KV pool is sized from RAM.
  bool host_memory = false;
  // The visible devices; empty with the reason in *why_none.
  std::function<std::vector<DeviceInfo>(std::string* why_none)> devices;
  // Free / total memory of one device; false with the reason in *why. Unset for host memory.
  std::function<bool(int device, DeviceMemory* out, std::string* why)> memory;
  std::function<std::unique_ptr<Backend>(const BackendOptions&)> create;
  // One communicator per device for tensor-parallel ranks on `devices` (rank r on devices[r]),
  // whose all_reduce_sum takes this kind's buffers.
  std::function<std::vector<std::unique_ptr<Communicator>>(const std::vector<int>& devices)> communicators;
  std::vector<LibraryProbe> libraries;
};

void register_device_kind(DeviceKind kind);
// Null when `name` is not registered.
const DeviceKind* find_device_kind(const std::string& name);
// Throws lmd::Error (kUnsupported) naming `name` and the registered kinds.
const DeviceKind& device_kind(const std::string& name);
// Registered names, "cpu" first.
std::vector<std::string> device_kind_names();

// `--device auto`: the first registered kind other than cpu that has a device, else "cpu".
std::string resolve_auto_device();

// The CPU kind (registered by the registry itself; declared for the tests that re-register).
DeviceKind cpu_device_kind();

}  // namespace lmd
