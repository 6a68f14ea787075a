// Decode attention over a large paged KV cache must stream it at a fair fraction of the
// device's memory bandwidth: 100 decode steps (one query row per sequence, 16 sequences ×
// 4096 positions of fp16 K and V, 8 KV heads × 128, GQA 4) timed between two of the
// backend's synchronize() calls with std::chrono (an upper bound of the kernels' time: it
// also counts launches), against a cudaMemcpy device-to-device probe timed with cudaEvents in
// the same test. Asserts >= 30 % of the probe's bandwidth (read + write bytes).
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "tests/cuda_backend/backend_pair.h"
#include "tests/cuda_device/require_device.h"

namespace lmd {
namespace {

using namespace backend_test;  // NOLINT: randn, Dev

#define CUDA_OK(expr)                                                                   \
  do {                                                                                  \
    const cudaError_t lmd_err_ = (expr);                                                \
    ASSERT_EQ(lmd_err_, cudaSuccess) << #expr << ": " << cudaGetErrorString(lmd_err_); \
  } while (0)

// Device-to-device copy bandwidth in GB/s (bytes read + bytes written per second).
void copy_probe(size_t bytes, double* gbps) {
  void *a = nullptr, *b = nullptr;
  CUDA_OK(cudaMalloc(&a, bytes));
  CUDA_OK(cudaMalloc(&b, bytes));
  cudaEvent_t t0, t1;
  CUDA_OK(cudaEventCreate(&t0));
  CUDA_OK(cudaEventCreate(&t1));
  CUDA_OK(cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice));  // warm-up
  const int reps = 20;
  CUDA_OK(cudaEventRecord(t0));
  for (int i = 0; i < reps; ++i) CUDA_OK(cudaMemcpyAsync(i % 2 ? a : b, i % 2 ? b : a, bytes, cudaMemcpyDeviceToDevice));
  CUDA_OK(cudaEventRecord(t1));
  CUDA_OK(cudaEventSynchronize(t1));
  float ms = 0.0f;
  CUDA_OK(cudaEventElapsedTime(&ms, t0, t1));
  *gbps = 2.0 * static_cast<double>(bytes) * reps / (ms * 1e-3) / 1e9;
  CUDA_OK(cudaEventDestroy(t0));
  CUDA_OK(cudaEventDestroy(t1));
  CUDA_OK(cudaFree(a));
  CUDA_OK(cudaFree(b));
}

TEST(CudaDeviceBandwidth, DecodeAttentionReachesThirtyPercentOfCopyBandwidth) {
  LMD_REQUIRE_CUDA_DEVICE();
  const int seqs = 16, ctx = 4096;
  KvLayout L;
  L.num_layer = 1;
  L.kv_head_num = 8;
  L.head_dim = 128;
  L.block_len = 64;
  L.kind = KvKind::kF16;
  AttentionParams ap;
  ap.head_num = 32;
  ap.kv_head_num = 8;
  ap.head_dim = 128;
  ap.rot_dim = 128;
  const int blocks_per_seq = ctx / L.block_len;
  const size_t pool_bytes = L.block_bytes() * static_cast<size_t>(seqs) * blocks_per_seq;
  // K and V bytes one decode step must read (each sequence's whole history).
  const double kv_bytes = 2.0 * seqs * ctx * L.kv_head_num * L.head_dim * sizeof(uint16_t);
  ASSERT_LE(kv_bytes, static_cast<double>(pool_bytes));

  double probe_gbps = 0.0;
  copy_probe(pool_bytes, &probe_gbps);
  if (HasFatalFailure()) return;

  auto gpu = create_cuda_backend();
  Dev<uint8_t> pool(*gpu, pool_bytes);
  StepPlan plan;  // one decode row per sequence, each on its own range of blocks
  const int32_t token = 1;
  for (int s = 0; s < seqs; ++s) {
    std::vector<int32_t> table(static_cast<size_t>(blocks_per_seq));
    std::iota(table.begin(), table.end(), s * blocks_per_seq);
    append_sequence(&plan, &token, 1, ctx - 1, std::move(table), true, s);
  }
  const int qd = ap.head_num * ap.head_dim, kd = ap.kv_head_num * ap.head_dim;
  Dev<float> q(*gpu, randn(static_cast<size_t>(seqs) * qd, 1)), k(*gpu, randn(static_cast<size_t>(seqs) * kd, 2)),
      v(*gpu, randn(static_cast<size_t>(seqs) * kd, 3)), out(*gpu, static_cast<size_t>(seqs) * qd);
  gpu->begin_step(plan, L, pool.get(), ap);
  gpu->rope_kv_write(0, q.get(), k.get(), v.get(), seqs);
  gpu->attention(0, q.get(), out.get(), seqs);  // warm-up (and the split scratch)
  gpu->synchronize();

  const int calls = 100;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < calls; ++i) gpu->attention(0, q.get(), out.get(), seqs);
  gpu->synchronize();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double gbps = kv_bytes * calls / secs / 1e9;
  for (float x : out.host()) ASSERT_TRUE(std::isfinite(x));
  std::printf("[ bandwidth ] decode attention %.1f GB/s (%d calls, %.1f MiB of KV each, %.3f ms per call); "
              "cudaMemcpy D2D probe %.1f GB/s; ratio %.0f %%\n",
              gbps, calls, kv_bytes / (1 << 20), secs * 1e3 / calls, probe_gbps, 100.0 * gbps / probe_gbps);
  EXPECT_GE(gbps, 0.3 * probe_gbps) << "decode attention streams its KV cache at " << gbps << " GB/s, below 30 % of "
                                    << probe_gbps << " GB/s (device-to-device copy)";
}

}  // namespace
}  // namespace lmd
