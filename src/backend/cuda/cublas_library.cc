// Loads cuBLAS at first use (kernels/cuda/cublas_api.h). Compiled by g++ into lmd_backend_cuda
// (built only with nvcc).
#include "backend/cuda/cublas_library.h"

#include "core/error.h"

#include <library_types.h>

#include <memory>
#include <type_traits>

#include "kernels/cuda/cublas_api.h"  // not after cuda_compat.h: the real <cublas_v2.h>

// cmake/cuda.cmake: LMD_CUDA_TOOLKIT_MAJOR (the toolkit's major version, which is cuBLAS's
// soname version) and LMD_CUDA_LIBRARY_DIR (where the toolkit keeps libcublas).
static_assert(CUBLAS_VER_MAJOR == LMD_CUDA_TOOLKIT_MAJOR,
              "the cuBLAS headers are not the configured CUDA toolkit's: libcublas.so.<major> would not match them");

namespace lmd {
namespace cuda {
namespace {

// The table's signatures are the header's (no symbol is referenced: unevaluated operands).
static_assert(std::is_same_v<decltype(CublasApi::create), decltype(&cublasCreate_v2)>);
static_assert(std::is_same_v<decltype(CublasApi::destroy), decltype(&cublasDestroy_v2)>);
static_assert(std::is_same_v<decltype(CublasApi::set_stream), decltype(&cublasSetStream_v2)>);
// cublasGemmEx is overloaded in C++ (an inline wrapper taking cudaDataType computeType): the
// cast picks the exported one and fails to compile if its signature changed.
static_assert(sizeof(static_cast<decltype(CublasApi::gemm_ex)>(&cublasGemmEx)) > 0);

using GetPropertyFn = decltype(&cublasGetProperty);

// What needs cuBLAS, for the error when it cannot be loaded (16 = kGemmMinTokens,
// kernels/cuda/w4a16_gemm.cuh: smaller steps use the backend's own GEMV kernels).
constexpr const char* kNeededBy = "--device cuda (dense fp16 / bf16 GEMMs of steps with >= 16 tokens)";

struct CublasLibrary {
  std::unique_ptr<DynamicLibrary> lib;
  CublasApi api{};
  GetPropertyFn get_property = nullptr;
};

const CublasLibrary& loaded_cublas() {
  // Initialised once; an exception leaves it uninitialised, so the next call tries again.
  // Never closed (and not destroyed at exit): cuBLAS handles live until their backend's end.
  static const CublasLibrary* const cublas = [] {
    const std::string soname = "libcublas.so." + std::to_string(LMD_CUDA_TOOLKIT_MAJOR);
    auto c = std::make_unique<CublasLibrary>();
    c->lib = DynamicLibrary::open({soname, std::string(LMD_CUDA_LIBRARY_DIR) + "/" + soname, "libcublas.so"},
                                  kNeededBy);
    c->api.create = c->lib->function<decltype(CublasApi::create)>("cublasCreate_v2");
    c->api.destroy = c->lib->function<decltype(CublasApi::destroy)>("cublasDestroy_v2");
    c->api.set_stream = c->lib->function<decltype(CublasApi::set_stream)>("cublasSetStream_v2");
    c->api.gemm_ex = c->lib->function<decltype(CublasApi::gemm_ex)>("cublasGemmEx");
    c->get_property = c->lib->function<GetPropertyFn>("cublasGetProperty");
    return c.release();
  }();
  return *cublas;
}

}  // namespace

const CublasApi& cublas_api() { return loaded_cublas().api; }

}  // namespace cuda

LoadedLibraryInfo cublas_library() {
  const cuda::CublasLibrary& c = cuda::loaded_cublas();
  int v[3] = {0, 0, 0};
  const libraryPropertyType parts[3] = {MAJOR_VERSION, MINOR_VERSION, PATCH_LEVEL};
  for (int i = 0; i < 3; ++i)
    LMD_CHECK_KIND(c.get_property(parts[i], &v[i]) == CUBLAS_STATUS_SUCCESS, kInternal)
        << c.lib->path() << ": cublasGetProperty(" << static_cast<int>(parts[i]) << ") failed";
  return {c.lib->path(), std::to_string(v[0]) + "." + std::to_string(v[1]) + "." + std::to_string(v[2])};
}

}  // namespace lmd
