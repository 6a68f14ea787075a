// warp_sum_transposed (device_common.cuh): lane l gets the warp total of value l / (32 / N),
// for every N, in every schedule; integer-valued floats so the sums are exact whatever the
// order. Also the shim's O(1) full-mask collective path: mixing it with a partial-mask
// collective in the same warp is still caught.
#include <gtest/gtest.h>

#include <vector>

#include "kernels/cuda/device_common.cuh"
#include "tests/cuda/schedules.h"

namespace lmd::cuda_test {
namespace {

template <int N>
__global__ void transposed_sum_kernel(float* out) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  float acc[N];
  for (int i = 0; i < N; ++i) acc[i] = static_cast<float>((lane + 1) * (i + 1) + warp * 1000);
  out[threadIdx.x] = cuda::warp_sum_transposed(acc);
}

template <int N>
void check_transposed() {
  SCOPED_TRACE("N = " + std::to_string(N));
  for_each_schedule([] {
    std::vector<float> out(64, -1.0f);
    cuda::launch(transposed_sum_kernel<N>, 1, 64, 0, out.data());
    for (int t = 0; t < 64; ++t) {
      const int lane = t % 32, warp = t / 32, i = lane / (32 / N);
      double want = 0;
      for (int l = 0; l < 32; ++l) want += (l + 1) * (i + 1) + warp * 1000;
      ASSERT_EQ(out[t], static_cast<float>(want)) << "thread " << t;
    }
  });
}

TEST(CudaWarpReduce, TransposedSumEveryWidth) {
  check_transposed<1>();
  check_transposed<2>();
  check_transposed<4>();
  check_transposed<8>();
  check_transposed<16>();
  check_transposed<32>();
}

// Lanes 0..15 shuffle with a full mask while lanes 16..31 use a half mask: a misuse.
__global__ void mixed_masks_kernel(float* out) {
  const int lane = threadIdx.x % 32;
  float v = static_cast<float>(lane);
  if (lane < 16) {
    v += __shfl_xor_sync(0xffffffffu, v, 1);
  } else {
    v += __shfl_xor_sync(0xffff0000u, v, 1);
  }
  out[threadIdx.x] = v;
}

TEST(CudaWarpReduce, FullMaskFastPathStillCatchesMixedMasks) {
  for_each_schedule([] {
    std::vector<float> out(32);
    EXPECT_THROW(cuda::launch(mixed_masks_kernel, 1, 32, 0, out.data()), Error);
  });
}

}  // namespace
}  // namespace lmd::cuda_test
