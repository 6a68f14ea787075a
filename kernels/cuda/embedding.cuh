// Embedding gather: out[t, :] = table row tokens[t], as fp32.
//   dense table: [vocab, dim] of T (float / __half / __nv_bfloat16)
//   int4 table:  core/weights.h layout — nibbles row-major (low nibble = even column),
//                fp16 (scale, min) per group: w = q * scale + min.
//   int8 table:  group-wise symmetric (GGUF Q8_0): int8 [vocab, dim], fp16 scale per group.
// Token ids are checked on the host before the launch (the kernel trusts them).
#pragma once

#include "kernels/common/half.h"
#include "kernels/common/int4.h"
#include "kernels/cuda/device_common.cuh"

namespace lmd::cuda {

template <typename T>
__global__ void embedding_kernel(const T* table, const int32_t* tokens, int dim, float* out) {
  const T* row = table + static_cast<int64_t>(tokens[blockIdx.x]) * dim;
  float* o = out + static_cast<int64_t>(blockIdx.x) * dim;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) o[i] = to_float(row[i]);
}

__global__ void embedding_int4_kernel(const uint8_t* nibbles, const uint16_t* scale_min, const int32_t* tokens,
                                      int dim, int group_size, float* out) {
  const int64_t r = tokens[blockIdx.x];
  const uint16_t* sm = scale_min + r * (dim / group_size) * 2;
  float* o = out + static_cast<int64_t>(blockIdx.x) * dim;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) {
    const int g = i / group_size;
    o[i] = int4_dequant(int4_get(nibbles, r * dim + i), fp16_to_f32(sm[2 * g]), fp16_to_f32(sm[2 * g + 1]));
  }
}

__global__ void embedding_int8_kernel(const int8_t* q, const uint16_t* scale, const int32_t* tokens, int dim,
                                      int group_size, float* out) {
  const int64_t r = tokens[blockIdx.x];
  const uint16_t* sc = scale + r * (dim / group_size);
  float* o = out + static_cast<int64_t>(blockIdx.x) * dim;
  for (int i = threadIdx.x; i < dim; i += blockDim.x)
    o[i] = static_cast<float>(q[r * dim + i]) * fp16_to_f32(sc[i / group_size]);
}

template <typename T>
void embedding(const T* table, const int32_t* tokens, int n, int dim, float* out) {
  if (n == 0) return;
  launch(embedding_kernel<T>, n, 128, 0, table, tokens, dim, out);
}

inline void embedding_int4(const uint8_t* nibbles, const uint16_t* scale_min, const int32_t* tokens, int n, int dim,
                           int group_size, float* out) {
  if (n == 0) return;
  launch(embedding_int4_kernel, n, 128, 0, nibbles, scale_min, tokens, dim, group_size, out);
}

inline void embedding_int8(const int8_t* q, const uint16_t* scale, const int32_t* tokens, int n, int dim,
                           int group_size, float* out) {
  if (n == 0) return;
  launch(embedding_int8_kernel, n, 128, 0, q, scale, tokens, dim, group_size, out);
}

}  // namespace lmd::cuda
