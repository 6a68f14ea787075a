// RMSNorm, one block per token, fp32 accumulation:
//   residual != null:  x = x + residual (written back to x, the running hidden state)
//   out = x / sqrt(mean(x^2) + eps) * w
// x, residual, out: [n, dim] of T; w: [dim] of T.
#pragma once

#include "kernels/cuda/device_common.cuh"

namespace lmd::cuda {

constexpr int kRmsNormThreads = 256;

template <typename T>
__global__ void __launch_bounds__(kRmsNormThreads)
    rms_norm_kernel(T* x, const T* residual, const T* w, int dim, float eps, T* out) {
  SMEM(float, partial, [kRmsNormThreads / 32]);
  SMEM(float, inv_rms, [1]);
  T* row = x + static_cast<int64_t>(blockIdx.x) * dim;
  const T* res = residual ? residual + static_cast<int64_t>(blockIdx.x) * dim : nullptr;
  float ss = 0.0f;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) {
    float v = to_float(row[i]);
    if (res) {
      v += to_float(res[i]);
      row[i] = from_float<T>(v);
      v = to_float(row[i]);  // normalise the stored (rounded) sum, as the next layer sees it
    }
    ss += v * v;
  }
  ss = warp_sum(ss);
  if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = ss;
  __syncthreads();
  if (threadIdx.x < 32) {
    float v = threadIdx.x < blockDim.x / 32 ? partial[threadIdx.x] : 0.0f;
    v = warp_sum(v);
    if (threadIdx.x == 0) inv_rms[0] = rsqrtf(v / static_cast<float>(dim) + eps);
  }
  __syncthreads();
  const float r = inv_rms[0];
  T* o = out + static_cast<int64_t>(blockIdx.x) * dim;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) o[i] = from_float<T>(to_float(row[i]) * r * to_float(w[i]));
}

template <typename T>
void rms_norm(T* x, const T* residual, const T* w, int n, int dim, float eps, T* out) {
  if (n == 0) return;
  launch(rms_norm_kernel<T>, n, kRmsNormThreads, 0, x, residual, w, dim, eps, out);
}

}  // namespace lmd::cuda
