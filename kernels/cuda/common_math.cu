// Compiles kernels/common (the host+device math shared by the CPU and CUDA backends) with
// nvcc for sm_80 / sm_90, so the CUDA side of those headers cannot silently rot before
// the CUDA backend exists. The same functions are unit-tested on the CPU.
#include <cstdint>

#include "kernels/common/half.h"

namespace lmd {

// fp16 / bf16 round trips, one element per thread.
__global__ void common_math_roundtrip(const float* in, uint16_t* fp16_out, uint16_t* bf16_out, float* back,
                                      int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  fp16_out[i] = f32_to_fp16(in[i]);
  bf16_out[i] = f32_to_bf16(in[i]);
  back[i] = fp16_to_f32(fp16_out[i]) + bf16_to_f32(bf16_out[i]);
}

}  // namespace lmd
