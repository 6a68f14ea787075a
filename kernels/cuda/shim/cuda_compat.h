// The one header every CUDA kernel source includes first. Under nvcc it is the CUDA
// runtime plus three spellings we need in both worlds; under g++ (tests) it is the
// CUDA-on-CPU shim, which runs the same kernel source on the host.
//
//   SMEM(T, name, dims)   static shared array, e.g. SMEM(float, red, [32]);
//   DYN_SMEM(T, name)     T* name = the launch's dynamic shared memory (one per kernel)
//   launch(kernel, grid, block, smem_bytes, args...)   kernel<<<grid, block, smem, stream>>>(args...)
//                         on the calling thread's current_stream() (the CUDA backend sets it
//                         with StreamScope; default: the legacy default stream)
//
// Kernels must not use __shared__ or <<<>>> directly, or the shim cannot run them.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#if defined(__CUDACC__)

#include <cuda_runtime.h>

#include <utility>

#define LMD_DEVICE __device__ __forceinline__
#define SMEM(T, name, dims) __shared__ __align__(16) T name dims  // 16: ldmatrix / cp.async rows
#define DYN_SMEM(T, name)                                       \
  extern __shared__ __align__(16) unsigned char lmd_dyn_smem_[]; \
  T* name = reinterpret_cast<T*>(lmd_dyn_smem_)

namespace lmd::cuda {
inline cudaStream_t& current_stream() {
  static thread_local cudaStream_t s = nullptr;
  return s;
}
template <typename... Params, typename... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, Args&&... args) {
  kernel<<<grid, block, smem, current_stream()>>>(std::forward<Args>(args)...);
}
}  // namespace lmd::cuda

#else  // the shim

#define LMD_CUDA_SHIM 1
#include "kernels/cuda/shim/device.h"
#include "kernels/cuda/shim/runtime.h"
#include "kernels/cuda/shim/cudart.h"

#define LMD_DEVICE inline
#undef __launch_bounds__
#define __launch_bounds__(...)
#define SMEM(T, name, dims)                                                        \
  static const ::lmd::shim::StaticSmemSite lmd_smem_site_##name{__FILE__, __LINE__}; \
  auto& name = *::lmd::shim::static_smem<T dims>(&lmd_smem_site_##name)
#define DYN_SMEM(T, name) T* name = reinterpret_cast<T*>(::lmd::shim::dynamic_smem())

namespace lmd::cuda {
using ::lmd::shim::launch;
inline cudaStream_t& current_stream() {  // recorded only: the shim runs kernels at launch
  static thread_local cudaStream_t s = nullptr;
  return s;
}
}  // namespace lmd::cuda

#endif

namespace lmd::cuda {
// Kernels launched by this thread inside the scope go to `s`.
class StreamScope {
 public:
  explicit StreamScope(cudaStream_t s) : saved_(current_stream()) { current_stream() = s; }
  ~StreamScope() { current_stream() = saved_; }
  StreamScope(const StreamScope&) = delete;
  StreamScope& operator=(const StreamScope&) = delete;

 private:
  cudaStream_t saved_;
};
}  // namespace lmd::cuda
