// Scalar twin of the cuBLAS entry points the CUDA backend calls (tests only): cublasCreate,
// cublasDestroy, cublasSetStream, cublasGemmEx, with cuBLAS's own names and enum values
// (cublas_api.h, library_types.h), so src/backend/cuda compiles unchanged against it. On a GPU
// the real cuBLAS runs; this twin exists so the backend's call parameters are verified here.
//
// cublasGemmEx semantics (cuBLAS documentation, column-major):
//   C = alpha * op(A) * op(B) + beta * C,  op(A): m x k, op(B): k x n, C: m x n;
//   element (i, j) of a column-major X with leading dimension ldX is X[i + j * ldX];
//   A is stored m x k (transa N, lda >= m) or k x m (T, lda >= k); B k x n (N, ldb >= k) or
//   n x k (T, ldb >= n); ldc >= m; beta == 0 means C is not read (NaNs in C do not propagate).
// Supported here: computeType CUBLAS_COMPUTE_32F with A = B = CUDA_R_16F or CUDA_R_16BF or
// CUDA_R_32F and C = CUDA_R_32F (or C = A's type for 16F / 16BF), host alpha / beta (float).
// Every other combination, a bad leading dimension, a negative size, a null or unknown handle,
// or an operand that overruns its shim device allocation fails loudly (lmd::Error naming the
// argument) instead of returning a status nobody reads. Products are summed in double and
// rounded once (cuBLAS sums in fp32 in an unspecified order: tests allow for that).
// Only included by code compiled against the shim (LMD_CUDA_SHIM).
#pragma once

#include <library_types.h>

#include <cstdint>
#include <set>
#include <string>

#include "kernels/common/half.h"
#include "kernels/cuda/shim/cuda_compat.h"

typedef enum {
  CUBLAS_STATUS_SUCCESS = 0,
  CUBLAS_STATUS_NOT_INITIALIZED = 1,
  CUBLAS_STATUS_ALLOC_FAILED = 3,
  CUBLAS_STATUS_INVALID_VALUE = 7,
  CUBLAS_STATUS_ARCH_MISMATCH = 8,
  CUBLAS_STATUS_MAPPING_ERROR = 11,
  CUBLAS_STATUS_EXECUTION_FAILED = 13,
  CUBLAS_STATUS_INTERNAL_ERROR = 14,
  CUBLAS_STATUS_NOT_SUPPORTED = 15,
  CUBLAS_STATUS_LICENSE_ERROR = 16
} cublasStatus_t;

typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1, CUBLAS_OP_C = 2 } cublasOperation_t;
typedef enum { CUBLAS_GEMM_DEFAULT = -1 } cublasGemmAlgo_t;
typedef enum { CUBLAS_COMPUTE_32F = 68 } cublasComputeType_t;

struct cublasContext {
  cudaStream_t stream = nullptr;
};
typedef struct cublasContext* cublasHandle_t;

namespace lmd::shim {

inline std::set<const cublasContext*>& cublas_handles() {
  static std::set<const cublasContext*>* h = new std::set<const cublasContext*>;
  return *h;
}

inline void cublas_fail(const std::string& what) { shim_fail("cublasGemmEx (shim twin): " + what); }

inline size_t cublas_elem_bytes(cudaDataType_t t) {
  switch (t) {
    case CUDA_R_32F: return 4;
    case CUDA_R_16F:
    case CUDA_R_16BF: return 2;
    default: return 0;
  }
}

inline double cublas_load(const void* p, cudaDataType_t t, int64_t i) {
  switch (t) {
    case CUDA_R_32F: return static_cast<const float*>(p)[i];
    case CUDA_R_16F: return fp16_to_f32(static_cast<const uint16_t*>(p)[i]);
    default: return bf16_to_f32(static_cast<const uint16_t*>(p)[i]);
  }
}

inline void cublas_store(void* p, cudaDataType_t t, int64_t i, double v) {
  switch (t) {
    case CUDA_R_32F: static_cast<float*>(p)[i] = static_cast<float>(v); break;
    case CUDA_R_16F: static_cast<uint16_t*>(p)[i] = f32_to_fp16(static_cast<float>(v)); break;
    default: static_cast<uint16_t*>(p)[i] = f32_to_bf16(static_cast<float>(v)); break;
  }
}

// A column-major rows x cols operand with leading dimension ld: checks ld and that its last
// element stays inside the shim allocation the pointer belongs to.
inline void cublas_check_operand(const char* name, const void* p, cudaDataType_t t, int64_t rows, int64_t cols,
                                 int64_t ld) {
  const std::string n(name);
  if (ld < (rows > 1 ? rows : 1))
    cublas_fail("ld" + std::string(1, static_cast<char>(n[0] - 'A' + 'a')) + " " + std::to_string(ld) + " < " +
                std::to_string(rows) + " rows of " + n + " as stored");
  if (rows == 0 || cols == 0) return;
  if (!p) cublas_fail(n + " is null");
  const size_t bytes = static_cast<size_t>((cols - 1) * ld + rows) * cublas_elem_bytes(t);
  if (!device_range_ok(p, bytes))
    cublas_fail(n + " (" + std::to_string(rows) + " x " + std::to_string(cols) + ", ld " + std::to_string(ld) +
                ") overruns its device allocation");
}

}  // namespace lmd::shim

inline cublasStatus_t cublasCreate(cublasHandle_t* handle) {
  if (!handle) return CUBLAS_STATUS_INVALID_VALUE;
  *handle = new cublasContext;
  lmd::shim::cublas_handles().insert(*handle);
  return CUBLAS_STATUS_SUCCESS;
}

inline cublasStatus_t cublasDestroy(cublasHandle_t handle) {
  if (lmd::shim::cublas_handles().erase(handle) != 1) return CUBLAS_STATUS_NOT_INITIALIZED;
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}

inline cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
  if (lmd::shim::cublas_handles().count(handle) != 1) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->stream = stream;
  return CUBLAS_STATUS_SUCCESS;
}

inline cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m,
                                   int n, int k, const void* alpha, const void* A, cudaDataType_t Atype, int lda,
                                   const void* B, cudaDataType_t Btype, int ldb, const void* beta, void* C,
                                   cudaDataType_t Ctype, int ldc, cublasComputeType_t computeType,
                                   cublasGemmAlgo_t algo) {
  using namespace lmd::shim;
  (void)algo;
  if (cublas_handles().count(handle) != 1) cublas_fail("handle was not created by cublasCreate (or destroyed)");
  if (transa != CUBLAS_OP_N && transa != CUBLAS_OP_T) cublas_fail("transa " + std::to_string(transa) + " unsupported");
  if (transb != CUBLAS_OP_N && transb != CUBLAS_OP_T) cublas_fail("transb " + std::to_string(transb) + " unsupported");
  if (m < 0 || n < 0 || k < 0)
    cublas_fail("negative size m " + std::to_string(m) + " n " + std::to_string(n) + " k " + std::to_string(k));
  if (computeType != CUBLAS_COMPUTE_32F) cublas_fail("computeType " + std::to_string(computeType) + " unsupported");
  if (Atype != Btype || cublas_elem_bytes(Atype) == 0)
    cublas_fail("Atype " + std::to_string(Atype) + " / Btype " + std::to_string(Btype) + " unsupported");
  if (!(Ctype == CUDA_R_32F || Ctype == Atype)) cublas_fail("Ctype " + std::to_string(Ctype) + " unsupported");
  if (!alpha || !beta) cublas_fail("alpha / beta is null");
  const bool ta = transa == CUBLAS_OP_T, tb = transb == CUBLAS_OP_T;
  cublas_check_operand("A", A, Atype, ta ? k : m, ta ? m : k, lda);
  cublas_check_operand("B", B, Btype, tb ? n : k, tb ? k : n, ldb);
  cublas_check_operand("C", C, Ctype, m, n, ldc);
  const double al = *static_cast<const float*>(alpha), be = *static_cast<const float*>(beta);
  for (int j = 0; j < n; ++j) {
    for (int i = 0; i < m; ++i) {
      double s = 0.0;
      for (int p = 0; p < k; ++p) {
        const int64_t ia = ta ? p + static_cast<int64_t>(i) * lda : i + static_cast<int64_t>(p) * lda;
        const int64_t ib = tb ? j + static_cast<int64_t>(p) * ldb : p + static_cast<int64_t>(j) * ldb;
        s += cublas_load(A, Atype, ia) * cublas_load(B, Btype, ib);
      }
      const int64_t ic = i + static_cast<int64_t>(j) * ldc;
      const double old = be == 0.0 ? 0.0 : be * cublas_load(C, Ctype, ic);
      cublas_store(C, Ctype, ic, al * s + old);
    }
  }
  return CUBLAS_STATUS_SUCCESS;
}
