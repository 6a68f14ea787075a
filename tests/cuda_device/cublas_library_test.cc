// cuBLAS is dlopen'ed at first use (src/backend/cuda/cublas_library.h): the library found is
// the major version the build was compiled against, and it is loaded once. Needs the CUDA
// toolkit's libcublas, not a device: runs (and passes) on a machine without a GPU.
#include <gtest/gtest.h>

#include <cublas_v2.h>  // CUBLAS_VER_MAJOR

#include <string>

#include "backend/cuda/cublas_library.h"

namespace lmd {
namespace {

TEST(CublasLibrary, ReportsItsVersion) {
  const LoadedLibraryInfo lib = cublas_library();  // the toolkit's libcublas
  EXPECT_NE(lib.path.find("libcublas.so." + std::to_string(CUBLAS_VER_MAJOR)), std::string::npos) << lib.path;
  // The library loaded is the major version compiled against (the soname promises its ABI).
  EXPECT_EQ(lib.version.rfind(std::to_string(CUBLAS_VER_MAJOR) + ".", 0), 0u) << lib.version;
  EXPECT_EQ(cublas_library().path, lib.path);  // loaded once
}

}  // namespace
}  // namespace lmd
