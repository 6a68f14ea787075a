// Dense fp16 / bf16 GEMM for prefill-sized steps through cuBLAS:
//   y[t, r] (+)= Σ_c w(r, c) x[t, c] (+ bias[r])   for t < m
// w: [rows, cols] row-major of T (__half / __nv_bfloat16); x: fp32 [m, cols]; y: fp32 [m, ldy].
// The activations are converted to the weight dtype (cast_rows kernel, into caller scratch) and
// cublasGemmEx runs A = B = T, C = fp32, CUBLAS_COMPUTE_32F (a documented cublasGemmEx
// combination). Column-major view (row-major y [m, ldy] is column-major C = y^T, ldc = ldy):
//   C (rows x m) = op_T(A: w read as a cols x rows column-major matrix, lda = cols)
//                * op_N(B: x read as a cols x m column-major matrix, ldb = cols).
// Bias and accumulate: bias_prologue writes y = (accumulate ? y : 0) + bias first and the GEMM
// runs with beta = 1; without a bias, beta = accumulate ? 1 : 0 (beta 0: y is not read).
// cuBLAS is called through the caller's CublasApi table (cublas_api.h): libcublas loaded at first use on a GPU,
// the scalar twin kernels/cuda/shim/cublas.h under the shim.
#pragma once

#include "core/error.h"
#include "kernels/cuda/device_common.cuh"
#include "kernels/cuda/cublas_api.h"  // after device_common.cuh: cuda_compat.h picks shim or not

namespace lmd::cuda {

template <typename T>
__global__ void cast_rows_kernel(const float* x, int64_t count, T* out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) out[i] = from_float<T>(x[i]);
}

__global__ void bias_prologue_kernel(float* y, int ldy, int rows, const float* bias, bool accumulate) {
  float* row = y + static_cast<int64_t>(blockIdx.x) * ldy;  // one CTA per token
  for (int r = threadIdx.x; r < rows; r += blockDim.x) row[r] = (accumulate ? row[r] : 0.0f) + bias[r];
}

template <typename T>
constexpr cudaDataType_t cuda_data_type();
template <>
constexpr cudaDataType_t cuda_data_type<__half>() {
  return CUDA_R_16F;
}
template <>
constexpr cudaDataType_t cuda_data_type<__nv_bfloat16>() {
  return CUDA_R_16BF;
}

// out[i] = T(x[i]), i < count: the activations in the weight dtype, once per linear call.
template <typename T>
void cast_activations(const float* x, int64_t count, T* out) {
  if (count > 0) launch(cast_rows_kernel<T>, ceil_div(count, 256), 256, 0, x, count, out);
}

// x_cast: the activations [m, cols] already cast to T (cast_activations). `cublas` is the
// caller's function table (the loaded library, or the shim's twin); the handle (made by
// cublas.create) must be bound to the current stream (set_stream). Throws on a cuBLAS error.
template <typename T>
void dense_gemm_cublas(const CublasApi& cublas, cublasHandle_t handle, const T* w, int rows, int cols, const T* x_cast, int m,
                       const float* bias, float* y, int ldy, bool accumulate) {
  if (m <= 0 || rows <= 0) return;
  float beta = accumulate ? 1.0f : 0.0f;
  if (bias) {
    launch(bias_prologue_kernel, m, 256, 0, y, ldy, rows, bias, accumulate);
    beta = 1.0f;
  }
  const float alpha = 1.0f;
  const cublasStatus_t st =
      cublas.gemm_ex(handle, CUBLAS_OP_T, CUBLAS_OP_N, rows, m, cols, &alpha, w, cuda_data_type<T>(), cols,
                           x_cast, cuda_data_type<T>(), cols, &beta, y, CUDA_R_32F, ldy, CUBLAS_COMPUTE_32F,
                           CUBLAS_GEMM_DEFAULT);
  LMD_CHECK_KIND(st == CUBLAS_STATUS_SUCCESS, kInternal)
      << "dense_gemm_cublas: cublasGemmEx [" << rows << "x" << cols << "] x " << m << " tokens failed with status "
      << static_cast<int>(st);
}

}  // namespace lmd::cuda
