// The cuBLAS calls the CUDA backend makes, as a table of function pointers, so that the one
// code path in dense_gemm.cuh / cuda_backend.cu runs against either
//   * the real libcublas, dlopen'ed at first use (cuda::cublas_api(), declared in
//     src/backend/cuda/cublas_library.h and defined in cublas_library.cc;
//     nothing links libcublas, so runs that never make a dense f16 / bf16 GEMM of
//     kGemmMinTokens or more tokens never map its ~600 MB), or
//   * under the CUDA-on-CPU shim (LMD_CUDA_SHIM, set by shim/cuda_compat.h, which the kernels
//     include first): the scalar twin in shim/cublas.h.
// The signatures are cuBLAS's own (cublas_api.h); cublas_library.cc checks them against the
// header at compile time.
#pragma once

#if defined(LMD_CUDA_SHIM)
#include "kernels/cuda/shim/cublas.h"
#else
#include <cublas_v2.h>
#endif

namespace lmd::cuda {

struct CublasApi {
  cublasStatus_t (*create)(cublasHandle_t* handle);                      // cublasCreate_v2
  cublasStatus_t (*destroy)(cublasHandle_t handle);                      // cublasDestroy_v2
  cublasStatus_t (*set_stream)(cublasHandle_t handle, cudaStream_t s);   // cublasSetStream_v2
  cublasStatus_t (*gemm_ex)(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                            int k, const void* alpha, const void* A, cudaDataType_t Atype, int lda, const void* B,
                            cudaDataType_t Btype, int ldb, const void* beta, void* C, cudaDataType_t Ctype, int ldc,
                            cublasComputeType_t computeType, cublasGemmAlgo_t algo);  // cublasGemmEx
};

#if defined(LMD_CUDA_SHIM)
// The shim's scalar twin (internal linkage: one per test binary that includes it).
static inline const CublasApi& cublas_twin() {
  static const CublasApi twin{&cublasCreate, &cublasDestroy, &cublasSetStream, &cublasGemmEx};
  return twin;
}
#endif

}  // namespace lmd::cuda
