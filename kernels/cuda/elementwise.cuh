// Small fp32 kernels of the CUDA backend: residual add and row gather.
//   add:         x[i] += y[i], i < count
//   gather_rows: out[i, :] = x[rows[i], :], i < n_rows (rows: device array, checked on the
//                host before the launch)
#pragma once

#include "kernels/cuda/device_common.cuh"

namespace lmd::cuda {

__global__ void add_kernel(float* x, const float* y, int64_t count) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) x[i] += y[i];
}

__global__ void gather_rows_kernel(const float* x, const int32_t* rows, int dim, float* out) {
  const float* src = x + static_cast<int64_t>(rows[blockIdx.x]) * dim;
  float* dst = out + static_cast<int64_t>(blockIdx.x) * dim;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) dst[i] = src[i];
}

inline void add(float* x, const float* y, int64_t count) {
  if (count == 0) return;
  launch(add_kernel, ceil_div(count, 256), 256, 0, x, y, count);
}

inline void gather_rows(const float* x, const int32_t* rows, int n_rows, int dim, float* out) {
  if (n_rows == 0) return;
  launch(gather_rows_kernel, n_rows, 128, 0, x, rows, dim, out);
}

}  // namespace lmd::cuda
