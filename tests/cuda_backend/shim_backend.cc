// The CUDA backend's source compiled by g++ against the CUDA-on-CPU shim (no nvcc, no GPU):
// the test binary runs exactly the code nvcc builds for `--device cuda`.
#include "backend/cuda/cuda_backend.cu"
