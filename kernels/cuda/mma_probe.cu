// Compiles the tensor-core / async-copy wrappers (kernels/cuda/mma.h) into a kernel for
// sm_80 / sm_90: the same probe the shim test runs (tests/cuda/mma_test.cc), for a GPU
// check of the fragment layouts (tests/cuda/gpu_checks.md).
#include "kernels/cuda/mma.h"

namespace lmd::cuda {

// a: [16][16] (m, k) fp16; bt: [16][16] (n, k) fp16; c, d: [16][16] fp32. One warp.
__global__ void mma_probe_kernel(const uint16_t* a, const uint16_t* bt, const float* c, float* d) {
  SMEM(uint16_t, sa, [16][16]);
  SMEM(uint16_t, sb, [16][16]);
  const int lane = threadIdx.x;
  cp_async16(&sa[lane / 2][(lane % 2) * 8], a + (lane / 2) * 16 + (lane % 2) * 8);
  cp_async16(&sb[lane / 2][(lane % 2) * 8], bt + (lane / 2) * 16 + (lane % 2) * 8);
  cp_async_commit();
  cp_async_wait<0>();
  __syncwarp();
  uint32_t af[4], bf[4];
  ldmatrix_x4(af, &sa[lane % 16][(lane / 16) * 8]);
  ldmatrix_x4(bf, &sb[(lane / 16) * 8 + lane % 8][((lane / 8) % 2) * 8]);
  const int g = lane / 4, t = lane % 4;
#pragma unroll
  for (int tile = 0; tile < 2; ++tile) {
    const int n0 = tile * 8 + 2 * t;
    const float acc[4] = {c[g * 16 + n0], c[g * 16 + n0 + 1], c[(g + 8) * 16 + n0], c[(g + 8) * 16 + n0 + 1]};
    const uint32_t b[2] = {bf[2 * tile], bf[2 * tile + 1]};
    float out[4];
    mma_m16n8k16(out, af, b, acc);
    d[g * 16 + n0] = out[0];
    d[g * 16 + n0 + 1] = out[1];
    d[(g + 8) * 16 + n0] = out[2];
    d[(g + 8) * 16 + n0 + 1] = out[3];
  }
}

}  // namespace lmd::cuda
