// The shim itself: schedules expose races, misuse is a hard error naming the call site,
// and correct barrier / warp code passes in every schedule.
#include <gtest/gtest.h>

#include <numeric>
#include <string>
#include <vector>

#include "tests/cuda/schedules.h"

namespace lmd::cuda_test {
namespace {

// Each thread writes its value to shared memory, then (without a barrier) reads its left
// neighbour's: correct only if the neighbour happened to run first.
__global__ void racy_neighbour(const int* in, int* out) {
  SMEM(int, buf, [256]);
  const int t = threadIdx.x;
  buf[t] = in[t];
  out[t] = buf[(t + blockDim.x - 1) % blockDim.x];
}

__global__ void fixed_neighbour(const int* in, int* out) {
  SMEM(int, buf, [256]);
  const int t = threadIdx.x;
  buf[t] = in[t];
  __syncthreads();
  out[t] = buf[(t + blockDim.x - 1) % blockDim.x];
}

TEST(CudaShim, RaceIsVisibleInSomeSchedule) {
  std::vector<int> in(256), out(256), expect(256);
  std::iota(in.begin(), in.end(), 100);
  for (int t = 0; t < 256; ++t) expect[t] = in[(t + 255) % 256];
  int wrong_schedules = 0;
  for (const shim::Schedule& s : all_schedules()) {
    ScheduleScope scope(s);
    cuda::launch(racy_neighbour, 1, 256, 0, in.data(), out.data());
    if (out != expect) ++wrong_schedules;
  }
  EXPECT_GE(wrong_schedules, 1) << "a missing __syncthreads must give wrong values in some schedule";
  for_each_schedule([&] {
    std::fill(out.begin(), out.end(), 0);
    cuda::launch(fixed_neighbour, 1, 256, 0, in.data(), out.data());
    EXPECT_EQ(out, expect);
  });
}

__global__ void divergent_barrier(int* out) {
  if (threadIdx.x < 16) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = 1;
}

__global__ void barrier_after_return(int* out) {
  if (threadIdx.x >= 40) return;
  __syncthreads();
  out[threadIdx.x] = 1;
}

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const lmd::Error& e) {
    return e.what();
  }
  return "";
}

TEST(CudaShim, DivergentBarrierIsAnError) {
  std::vector<int> out(64);
  for_each_schedule([&] {
    const std::string msg = error_of([&] { cuda::launch(divergent_barrier, 1, 64, 0, out.data()); });
    EXPECT_NE(msg.find("divergent __syncthreads"), std::string::npos) << msg;
    EXPECT_NE(msg.find("shim_test.cc:"), std::string::npos) << msg;
  });
}

TEST(CudaShim, BarrierAfterReturnIsAnError) {
  std::vector<int> out(64);
  for_each_schedule([&] {
    const std::string msg = error_of([&] { cuda::launch(barrier_after_return, 1, 64, 0, out.data()); });
    EXPECT_NE(msg.find("reached by 40 of 64 threads"), std::string::npos) << msg;
    EXPECT_NE(msg.find("had returned"), std::string::npos) << msg;
  });
}

__global__ void mismatched_shuffle_masks(int* out) {
  const int lane = threadIdx.x % 32;
  int v = lane;
  if (lane < 16) {
    v = __shfl_xor_sync(0x0000ffffu, v, 1);
  } else {
    v = __shfl_xor_sync(0xffffffffu, v, 1);
  }
  out[threadIdx.x] = v;
}

__global__ void shuffle_reading_outside_mask(int* out) {
  out[threadIdx.x] = __shfl_sync(0x0000ffffu, static_cast<int>(threadIdx.x), 20);
}

__global__ void shuffle_after_lane_returned(int* out) {
  if (threadIdx.x == 5) return;
  out[threadIdx.x] = __shfl_down_sync(0xffffffffu, static_cast<int>(threadIdx.x), 1);
}

__global__ void shuffle_vs_ballot(int* out) {
  if (threadIdx.x % 2) {
    out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1, 1);
  } else {
    out[threadIdx.x] = __ballot_sync(0xffffffffu, 1);
  }
}

TEST(CudaShim, WarpMisuseIsAnError) {
  std::vector<int> out(64);
  for_each_schedule([&] {
    std::string msg = error_of([&] { cuda::launch(mismatched_shuffle_masks, 1, 32, 0, out.data()); });
    EXPECT_NE(msg.find("__shfl_xor_sync at shim_test.cc:"), std::string::npos) << msg;
    EXPECT_NE(msg.find("mask"), std::string::npos) << msg;
    msg = error_of([&] { cuda::launch(shuffle_reading_outside_mask, 1, 16, 0, out.data()); });
    EXPECT_NE(msg.find("not in the mask"), std::string::npos) << msg;
    msg = error_of([&] { cuda::launch(shuffle_after_lane_returned, 1, 32, 0, out.data()); });
    EXPECT_NE(msg.find("returned"), std::string::npos) << msg;
    msg = error_of([&] { cuda::launch(shuffle_vs_ballot, 1, 32, 0, out.data()); });
    EXPECT_NE(msg.find("waits at"), std::string::npos) << msg;
  });
}

__global__ void full_mask_in_partial_warp(int* out) {
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1, 1);
}

__global__ void uses_dynamic_smem(int* out) {
  DYN_SMEM(int, buf);
  buf[threadIdx.x] = 1;
  out[threadIdx.x] = buf[threadIdx.x];
}

__global__ void too_much_static_smem(int* out) {
  SMEM(float, big, [8192]);
  big[threadIdx.x] = 1.0f;
  out[threadIdx.x] = static_cast<int>(big[threadIdx.x]);
}

TEST(CudaShim, LaunchLimitsAreErrors) {
  std::vector<int> out(2048);
  std::string msg = error_of([&] { cuda::launch(uses_dynamic_smem, 1, dim3(32, 33), 0, out.data()); });
  EXPECT_NE(msg.find("1056 threads; the limit is 1024"), std::string::npos) << msg;
  EXPECT_NE(msg.find("launch at shim_test.cc:"), std::string::npos) << msg;
  msg = error_of([&] { cuda::launch(uses_dynamic_smem, 1, 32, 64 * 1024, out.data()); });
  EXPECT_NE(msg.find("dynamic shared memory 65536"), std::string::npos) << msg;
  msg = error_of([&] { cuda::launch(too_much_static_smem, 1, 32, 24 * 1024, out.data()); });
  EXPECT_NE(msg.find("static + dynamic"), std::string::npos) << msg;
  msg = error_of([&] { cuda::launch(full_mask_in_partial_warp, 1, 48, 0, out.data()); });
  EXPECT_NE(msg.find("does not exist"), std::string::npos) << msg;
  msg = error_of([&] { cuda::launch(uses_dynamic_smem, 1, 32, 128, out.data()); });
  EXPECT_EQ(msg, "");
}

// Poison: shared memory nobody wrote reads as NaN.
__global__ void read_unwritten(float* out) {
  SMEM(float, buf, [32]);
  out[threadIdx.x] = buf[threadIdx.x];
}

TEST(CudaShim, SharedMemoryIsPoisoned) {
  std::vector<float> out(32, 0.0f);
  cuda::launch(read_unwritten, 1, 32, 0, out.data());
  for (float v : out) EXPECT_TRUE(std::isnan(v));
}

// A correct two-level reduction: warp shuffles, then one warp over the partials.
__global__ void block_sum(const float* in, int n, float* out) {
  SMEM(float, partial, [32]);
  float v = 0.0f;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) v += in[i];
  for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < static_cast<int>(blockDim.x / 32) ? partial[lane] : 0.0f;
    for (int off = 16; off > 0; off /= 2) v += __shfl_down_sync(0xffffffffu, v, off);
    if (lane == 0) atomicAdd(out, v);
  }
}

TEST(CudaShim, BlockReductionPassesInEverySchedule) {
  std::vector<float> in(5000);
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(i % 7);  // exact in fp32
  const float expect = std::accumulate(in.begin(), in.end(), 0.0f);
  for_each_schedule([&] {
    std::vector<float> out(1, 0.0f);
    cuda::launch(block_sum, 3, 256, 0, in.data(), static_cast<int>(in.size()), out.data());
    EXPECT_EQ(out[0], expect);
  });
}

__global__ void warp_votes(unsigned* ballot, int* any, int* all, int* up, int* seg) {
  const int lane = threadIdx.x;
  ballot[lane] = __ballot_sync(0xffffffffu, lane % 3 == 0);
  any[lane] = __any_sync(0xffffffffu, lane == 17);
  all[lane] = __all_sync(0xffffffffu, lane < 31);
  up[lane] = __shfl_up_sync(0xffffffffu, lane, 2);
  seg[lane] = __shfl_sync(0xffffffffu, lane, 3, 8);
  __syncwarp();
}

TEST(CudaShim, WarpVotesAndShuffles) {
  for_each_schedule([&] {
    std::vector<unsigned> ballot(32);
    std::vector<int> any(32), all(32), up(32), seg(32);
    cuda::launch(warp_votes, 1, 32, 0, ballot.data(), any.data(), all.data(), up.data(), seg.data());
    unsigned expect_ballot = 0;
    for (int l = 0; l < 32; l += 3) expect_ballot |= 1u << l;
    for (int l = 0; l < 32; ++l) {
      EXPECT_EQ(ballot[l], expect_ballot);
      EXPECT_EQ(any[l], 1);
      EXPECT_EQ(all[l], 0);
      EXPECT_EQ(up[l], l < 2 ? l : l - 2);
      EXPECT_EQ(seg[l], l / 8 * 8 + 3);
    }
  });
}

__global__ void grid_indices(int* out) {
  const int b = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const int t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  out[b * blockDim.x * blockDim.y * blockDim.z + t] = b * 1000 + t;
}

TEST(CudaShim, EveryThreadOfEveryBlockRunsOnce) {
  for_each_schedule([&] {
    std::vector<int> out(2 * 3 * 2 * 4 * 5 * 3, -1);
    cuda::launch(grid_indices, dim3(2, 3, 2), dim3(4, 5, 3), 0, out.data());
    for (size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i], static_cast<int>(i / 60 * 1000 + i % 60));
  });
}

}  // namespace
}  // namespace lmd::cuda_test
