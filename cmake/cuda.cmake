# ---- CUDA kernels (kernels/cuda/*.cu) compiled by nvcc for sm_80 / sm_90 ----
if(LMDEPLOY_CUDA)
  enable_language(CUDA)
  set(CMAKE_CUDA_STANDARD 17)
  set(CMAKE_CUDA_ARCHITECTURES 80 90)
  # lmd_backend_cuda: the kernels' instantiations (kernels/cuda/*.cu), the CUDA backend
  # (src/backend/cuda/*.cu) and cuBLAS loading (src/backend/cuda/*.cc). A binary that offers
  # `--device cuda` links it and calls register_cuda_device_kind() (the CLI, the Python
  # module); the library itself (lmdeploy_core) never names it.
  file(GLOB LMD_CUDA_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/kernels/cuda/*.cu
       ${CMAKE_SOURCE_DIR}/src/backend/cuda/*.cu ${CMAKE_SOURCE_DIR}/src/backend/cuda/*.cc)
  add_library(lmd_backend_cuda STATIC ${LMD_CUDA_SOURCES})
  foreach(dep ${LMD_backend_cuda_DEPS})
    target_link_libraries(lmd_backend_cuda PUBLIC lmd_${dep})
  endforeach()
  # Register spills and local-memory use fail the build (ptxas warnings as errors).
  target_compile_options(lmd_backend_cuda PRIVATE
    $<$<COMPILE_LANGUAGE:CUDA>:-Xptxas=-warn-spills,-warn-lmem-usage,-Werror>)
  add_custom_target(cuda_kernels ALL DEPENDS lmd_backend_cuda)
  # The static runtime needs no libcudart.so at run time and reports "no device" cleanly on a
  # machine without a driver.
  find_package(CUDAToolkit REQUIRED)
  target_link_libraries(lmd_backend_cuda PUBLIC CUDA::cudart_static)
  # cuBLAS (dense fp16 / bf16 GEMMs of prefill-sized steps, kernels/cuda/dense_gemm.cuh) and
  # NCCL (tensor parallelism across devices, src/comm/nccl_communicator.cc) are NOT linked: both
  # are dlopen'ed at first use (src/common/dynlib.h), so a CUDA build starts, and runs on the
  # CPU, without them and without mapping their ~800 MB. Only their headers are needed here.
  # cuBLAS's soname is libcublas.so.<toolkit major>; the toolkit's library directory is the
  # fallback when the dynamic linker's search path does not reach it.
  set_property(SOURCE ${CMAKE_SOURCE_DIR}/src/backend/cuda/cublas_library.cc APPEND PROPERTY COMPILE_DEFINITIONS
               LMD_CUDA_TOOLKIT_MAJOR=${CUDAToolkit_VERSION_MAJOR} LMD_CUDA_LIBRARY_DIR="${CUDAToolkit_LIBRARY_DIR}")
  target_include_directories(lmd_backend_cuda SYSTEM PRIVATE ${CUDAToolkit_INCLUDE_DIRS})
  target_link_libraries(lmdeploy PRIVATE lmd_backend_cuda)
  # NCCL: the toolkit's nccl.h when present, else that file's "built without NCCL" stub.
  find_path(LMD_NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS} $ENV{NCCL_HOME}/include)
  find_library(LMD_NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR} ${CUDAToolkit_LIBRARY_ROOT}/lib
               $ENV{NCCL_HOME}/lib)
  if(LMD_NCCL_INCLUDE_DIR)
    message(STATUS "NCCL: ${LMD_NCCL_INCLUDE_DIR}/nccl.h (libnccl loaded at run time; here: ${LMD_NCCL_LIBRARY})")
    target_include_directories(lmd_comm SYSTEM PUBLIC ${LMD_NCCL_INCLUDE_DIR} ${CUDAToolkit_INCLUDE_DIRS})
    target_compile_definitions(lmd_comm PUBLIC LMDEPLOY_NCCL_ENABLED=1)
    target_link_libraries(lmd_comm PUBLIC CUDA::cudart_static)
    if(LMD_NCCL_LIBRARY)  # its directory: the fallback when the dynamic linker does not find it
      get_filename_component(_lmd_nccl_dir ${LMD_NCCL_LIBRARY} DIRECTORY)
      set_property(SOURCE ${CMAKE_SOURCE_DIR}/src/comm/nccl_communicator.cc APPEND PROPERTY COMPILE_DEFINITIONS
                   LMD_NCCL_LIBRARY_DIR="${_lmd_nccl_dir}")
    endif()
  else()
    message(STATUS "NCCL: nccl.h not found: --tp across CUDA devices is not built")
  endif()

  # Checks only a real GPU can make (tests/cuda_device/*.cc, docs/cuda.md "What only a GPU can
  # verify"): the nvcc-built backend in lmdeploy_core against the CPU backend, compiled by g++
  # against the real CUDA runtime headers (no shim). Every test skips without a device, and
  # listing the tests never touches CUDA, so discovery works on machines without a GPU.
  if(LMDEPLOY_BUILD_TESTS)
    find_package(GTest REQUIRED)
    include(GoogleTest)
    file(GLOB_RECURSE LMD_CUDA_DEVICE_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/cuda_device/*.cc)
    add_executable(cuda_device_tests ${LMD_CUDA_DEVICE_TESTS})
    target_compile_definitions(cuda_device_tests PRIVATE LMD_TEST_DATA_DIR="${CMAKE_SOURCE_DIR}/tests/data")
    target_link_libraries(cuda_device_tests PRIVATE lmdeploy_core lmd_backend_cuda GTest::gtest GTest::gtest_main)
    gtest_discover_tests(cuda_device_tests WORKING_DIRECTORY ${CMAKE_BINARY_DIR} DISCOVERY_TIMEOUT 60
      PROPERTIES TIMEOUT 900)
  endif()
endif()

# ---- the same kernels compiled by g++ against the CUDA-on-CPU shim (kernels/cuda/shim) ----
# Needs only the toolkit's headers (cuda_fp16.h / cuda_bf16.h / vector_types.h) and
# Boost.Context, never nvcc or a GPU: built whenever tests are, so it cannot rot.
if(LMDEPLOY_BUILD_TESTS)
  find_path(LMD_CUDA_HEADERS cuda_fp16.h
    HINTS ${CUDAToolkit_INCLUDE_DIRS} $ENV{CUDA_HOME}/include /usr/local/cuda/include /usr/include)
  if(NOT LMD_CUDA_HEADERS)
    message(FATAL_ERROR "cuda_shim_tests need the CUDA toolkit headers (cuda_fp16.h): install the "
                        "toolkit or set LMD_CUDA_HEADERS to its include directory")
  endif()
  find_package(Boost REQUIRED COMPONENTS context)
  find_package(GTest REQUIRED)
  include(GoogleTest)
  file(GLOB_RECURSE LMD_CUDA_SHIM_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/cuda/*_test.cc)
  add_executable(cuda_shim_tests ${LMD_CUDA_SHIM_TESTS})
  # Header-only against the library (kernels/common, core/error.h): the kernel tests carry
  # their own scalar references, so they build in seconds and independently of lmdeploy_core.
  target_include_directories(cuda_shim_tests SYSTEM PRIVATE ${LMD_CUDA_HEADERS})
  # Kernels carry `#pragma unroll` for nvcc; g++ ignores it.
  target_compile_options(cuda_shim_tests PRIVATE -Wno-unknown-pragmas)
  target_link_libraries(cuda_shim_tests PRIVATE lmd_kernels_cuda lmd_core Boost::context GTest::gtest GTest::gtest_main)
  gtest_discover_tests(cuda_shim_tests WORKING_DIRECTORY ${CMAKE_BINARY_DIR} DISCOVERY_TIMEOUT 60)

  # The CUDA backend compiled by g++ against the shim (lmd_backend_cuda_shim, cmake/cuda_shim),
  # registered as the device kind "cuda" by tests/cuda_backend/shim_device.cc, with the model
  # and the CPU backend from lmdeploy_core to compare against. This binary does not link
  # lmd_backend_cuda (the nvcc build of the same source).
  add_subdirectory(${CMAKE_SOURCE_DIR}/cmake/cuda_shim ${CMAKE_BINARY_DIR}/cuda_shim)
  file(GLOB_RECURSE LMD_CUDA_BACKEND_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/cuda_backend/*.cc)
  add_executable(cuda_backend_shim_tests ${LMD_CUDA_BACKEND_TESTS})
  target_include_directories(cuda_backend_shim_tests SYSTEM PRIVATE ${LMD_CUDA_HEADERS})
  target_compile_options(cuda_backend_shim_tests PRIVATE -Wno-unknown-pragmas)
  target_compile_definitions(cuda_backend_shim_tests PRIVATE LMD_TEST_DATA_DIR="${CMAKE_SOURCE_DIR}/tests/data"
                             LMD_BINARY="$<TARGET_FILE:lmdeploy>")
  add_dependencies(cuda_backend_shim_tests lmdeploy)  # device_selection_test runs the binary
  target_link_libraries(cuda_backend_shim_tests PRIVATE lmd_backend_cuda_shim lmdeploy_core GTest::gtest GTest::gtest_main)
  gtest_discover_tests(cuda_backend_shim_tests WORKING_DIRECTORY ${CMAKE_BINARY_DIR} DISCOVERY_TIMEOUT 60
    PROPERTIES TIMEOUT 900)
endif()
