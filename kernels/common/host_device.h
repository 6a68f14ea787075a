// Functions in kernels/common are compiled by both g++ (CPU backend, tests) and nvcc
// (CUDA kernels). They must stay header-only, free of the standard library's
// host-only parts, and bit-exact between the two compilers.
#pragma once

#if defined(__CUDACC__)
#define LMD_HD __host__ __device__ __forceinline__
#else
#define LMD_HD inline
#endif
