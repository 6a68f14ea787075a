# ---- CUDA: kernels/common (host+device math) compiled by nvcc for sm_80/sm_90 ----
if(LMDEPLOY_CUDA)
  enable_language(CUDA)
  set(CMAKE_CUDA_STANDARD 17)
  set(CMAKE_CUDA_ARCHITECTURES 80 90)
  file(GLOB_RECURSE LMD_CUDA_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/kernels/cuda/*.cu)
  add_library(lmdeploy_cuda_kernels STATIC ${LMD_CUDA_SOURCES})
  target_include_directories(lmdeploy_cuda_kernels PRIVATE ${CMAKE_SOURCE_DIR})
  target_compile_options(lmdeploy_cuda_kernels PRIVATE
    $<$<COMPILE_LANGUAGE:CUDA>:-Xptxas=-warn-spills,-warn-lmem-usage,-Werror>)
  add_custom_target(cuda_kernels ALL DEPENDS lmdeploy_cuda_kernels)
endif()

