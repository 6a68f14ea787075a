// Gated SiLU of the MLP: out = silu(g) * u = g / (1 + exp(-g)) * u, elementwise over count.
#pragma once

#include "kernels/cuda/device_common.cuh"

namespace lmd::cuda {

template <typename T>
__global__ void silu_mul_kernel(const T* g, const T* u, int64_t count, T* out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count) return;
  const float gv = to_float(g[i]);
  out[i] = from_float<T>(gv / (1.0f + expf(-gv)) * to_float(u[i]));
}

template <typename T>
void silu_mul(const T* g, const T* u, int64_t count, T* out) {
  if (count == 0) return;
  launch(silu_mul_kernel<T>, ceil_div(count, 256), 256, 0, g, u, count, out);
}

}  // namespace lmd::cuda
