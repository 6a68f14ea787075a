// cuBLAS as the CUDA backend uses it: not linked, but dlopen'ed at the first dense fp16 / bf16
// GEMM of a prefill-sized step (kernels/cuda/cublas_api.h has the function table). Plain C++:
// callers need no CUDA headers.
#pragma once

#include "common/dynlib.h"

namespace lmd {
namespace cuda {
struct CublasApi;  // kernels/cuda/cublas_api.h
// Loads libcublas on the first call (thread-safe; a failed load is retried by the next call).
// Throws lmd::Error (kUnsupported) naming the library and that dense fp16 / bf16 GEMMs need it.
const CublasApi& cublas_api();
}  // namespace cuda

// Loads cuBLAS now, as the first dense GEMM would, and reports the file and its version.
// Throws lmd::Error (kUnsupported) naming the library and dlerror() when it cannot be loaded,
// or saying so when this binary has no CUDA backend.
LoadedLibraryInfo cublas_library();

}  // namespace lmd
