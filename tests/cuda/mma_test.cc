// Probes of kernels/cuda/mma.h under the shim: a 16x16 * 16x16 product assembled from
// cp.async + ldmatrix + two mma.m16n8k16 equals a plain matmul (values chosen so fp32 sums
// are exact), which pins down the fragment layouts of all three instructions.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/common/half.h"
#include "kernels/cuda/mma.h"
#include "tests/cuda/schedules.h"

namespace lmd::cuda_test {
namespace {

// a: [16][16] row-major (m, k); bt: [16][16] (n, k); c, d: [16][16] (m, n) fp32.
__global__ void mma_probe(const uint16_t* a, const uint16_t* bt, const float* c, float* d) {
  SMEM(uint16_t, sa, [16][16]);
  SMEM(uint16_t, sb, [16][16]);
  const int lane = threadIdx.x;
  // 16 rows x 32 bytes = 32 chunks of 16 bytes per matrix: one chunk per lane.
  cuda::cp_async16(&sa[lane / 2][(lane % 2) * 8], a + (lane / 2) * 16 + (lane % 2) * 8);
  cuda::cp_async16(&sb[lane / 2][(lane % 2) * 8], bt + (lane / 2) * 16 + (lane % 2) * 8);
  cuda::cp_async_commit();
  cuda::cp_async_wait<0>();
  __syncwarp();
  uint32_t af[4], bf[4];
  cuda::ldmatrix_x4(af, &sa[lane % 16][(lane / 16) * 8]);
  cuda::ldmatrix_x4(bf, &sb[(lane / 16) * 8 + lane % 8][((lane / 8) % 2) * 8]);
  const int g = lane / 4, t = lane % 4;
  for (int tile = 0; tile < 2; ++tile) {
    const int n0 = tile * 8 + 2 * t;
    const float acc[4] = {c[g * 16 + n0], c[g * 16 + n0 + 1], c[(g + 8) * 16 + n0], c[(g + 8) * 16 + n0 + 1]};
    const uint32_t b[2] = {bf[2 * tile], bf[2 * tile + 1]};
    float out[4];
    cuda::mma_m16n8k16(out, af, b, acc);
    d[g * 16 + n0] = out[0];
    d[g * 16 + n0 + 1] = out[1];
    d[(g + 8) * 16 + n0] = out[2];
    d[(g + 8) * 16 + n0 + 1] = out[3];
  }
}

TEST(CudaMma, FragmentLayoutsMatchPlainMatmul) {
  std::vector<uint16_t> a(256), bt(256);
  std::vector<float> af(256), bf(256), c(256);
  for (int i = 0; i < 256; ++i) {
    af[i] = static_cast<float>((i * 7 + 3) % 17 - 8) / 4.0f;  // distinct per position
    bf[i] = static_cast<float>((i * 5 + 1) % 13 - 6) / 2.0f;
    c[i] = static_cast<float>(i % 9) - 4.0f;
    a[i] = f32_to_fp16(af[i]);
    bt[i] = f32_to_fp16(bf[i]);
  }
  for_each_schedule([&] {
    std::vector<float> d(256, 0.0f);
    alignas(16) static uint16_t ga[256], gb[256];  // cp.async sources are 16-byte aligned
    std::copy(a.begin(), a.end(), ga);
    std::copy(bt.begin(), bt.end(), gb);
    cuda::launch(mma_probe, 1, 32, 0, ga, gb, c.data(), d.data());
    for (int m = 0; m < 16; ++m) {
      for (int n = 0; n < 16; ++n) {
        float ref = c[m * 16 + n];
        for (int k = 0; k < 16; ++k) ref += af[m * 16 + k] * bf[n * 16 + k];
        ASSERT_EQ(d[m * 16 + n], ref) << "m " << m << " n " << n;
      }
    }
  });
}

// cp.async destinations read as poison until the group is waited for.
__global__ void cp_async_poison(const float* src, float* before, float* after) {
  SMEM(float, buf, [4][4]);
  cuda::cp_async16(&buf[threadIdx.x][0], src + 4 * threadIdx.x);
  cuda::cp_async_commit();
  cuda::cp_async16(&buf[threadIdx.x + 2][0], src + 4 * threadIdx.x + 8);
  cuda::cp_async_commit();
  before[threadIdx.x] = buf[threadIdx.x][0];
  cuda::cp_async_wait<1>();  // the first group has landed, the second may not have
  after[threadIdx.x] = buf[threadIdx.x][0];
  after[2 + threadIdx.x] = buf[threadIdx.x + 2][0];
  cuda::cp_async_wait<0>();
  __syncthreads();
  after[4 + threadIdx.x] = buf[threadIdx.x + 2][0];
}

TEST(CudaMma, CpAsyncDestinationIsPoisonUntilWaited) {
  alignas(16) static float src[16];
  for (int i = 0; i < 16; ++i) src[i] = static_cast<float>(i);
  std::vector<float> before(2), after(6);
  cuda::launch(cp_async_poison, 1, 2, 0, src, before.data(), after.data());
  EXPECT_TRUE(std::isnan(before[0]) && std::isnan(before[1]));
  EXPECT_EQ(after[0], 0.0f);
  EXPECT_EQ(after[1], 4.0f);
  EXPECT_TRUE(std::isnan(after[2]) && std::isnan(after[3]));
  EXPECT_EQ(after[4], 8.0f);
  EXPECT_EQ(after[5], 12.0f);
}

__global__ void ldmatrix_misaligned(uint32_t* out) {
  SMEM(uint16_t, s, [16][16]);
  uint32_t r[4];
  cuda::ldmatrix_x4(r, &s[threadIdx.x % 16][1]);
  out[threadIdx.x] = r[0];
}

TEST(CudaMma, LdmatrixChecksAlignment) {
  std::vector<uint32_t> out(32);
  try {
    cuda::launch(ldmatrix_misaligned, 1, 32, 0, out.data());
    FAIL() << "misaligned ldmatrix accepted";
  } catch (const lmd::Error& e) {
    EXPECT_NE(std::string(e.what()).find("mma_test.cc:"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace lmd::cuda_test
