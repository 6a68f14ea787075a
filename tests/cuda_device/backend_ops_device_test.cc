// The nvcc-built CUDA backend on a real device against the CPU backend's exact fp32 path, op by
// op on random inputs: the same comparisons as tests/cuda_backend/backend_ops_test.cc (which
// runs the same source under the shim), here with the silicon's memory model, asynchrony
// (every result is read back after the backend's stream), nvcc's FMA contraction, cuBLAS and
// the real mma / ldmatrix.
//
// Tolerances (relative to the largest expected |value|) are the shim test's, except where FMA
// contraction changes a rounding that is exact under g++ (-ffp-contract=off): RoPE
// (a*cos - b*sin becomes one fma) may differ by an ulp, so rotated q / k are compared within
// 1e-6 and a quantised KV code may flip by one; the KV cache is therefore checked by what it
// means — the CPU attention over the device's pool bytes equals the CPU attention over its own
// pool — instead of byte for byte.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/device_registry.h"
#include "tests/cuda_backend/backend_pair.h"
#include "tests/cuda_device/require_device.h"

namespace lmd {
namespace {

using namespace backend_test;  // NOLINT: randn, random_weight, Dev, expect_close, Pair

TEST(CudaDeviceOps, DevicesAreListed) {
  LMD_REQUIRE_CUDA_DEVICE();
  register_cuda_device_kind();
  ASSERT_NE(find_device_kind("cuda"), nullptr);
  const auto devs = cuda_devices();
  EXPECT_EQ(devs[0].index, 0);
  EXPECT_GE(devs[0].cc_major, 8) << devs[0].name << ": the kernels are built for sm_80 / sm_90";
  EXPECT_GT(devs[0].total_bytes, 0u);
  EXPECT_STREQ(create_cuda_backend()->name(), "cuda");
  CudaBackendOptions bad;
  bad.device = static_cast<int>(devs.size());
  EXPECT_THROW(create_cuda_backend(bad), Error);
}

TEST(CudaDeviceOps, MemoryIsZeroedAndRoundTrips) {
  LMD_REQUIRE_CUDA_DEVICE();
  Pair p;
  Dev<float> d(*p.gpu, 1 << 20);
  for (float v : d.host()) ASSERT_EQ(v, 0.0f);
  const std::vector<float> src = randn(1 << 20, 3);
  Dev<float> e(*p.gpu, src);
  EXPECT_EQ(e.host(), src);
}

TEST(CudaDeviceOps, EmbeddingEveryFormat) {
  LMD_REQUIRE_CUDA_DEVICE();
  for (DType dt : {DType::kF32, DType::kF16, DType::kBF16, DType::kInt4, DType::kI8}) {
    SCOPED_TRACE(static_cast<int>(dt));
    Pair p;
    check_embedding(p, dt);
  }
}

TEST(CudaDeviceOps, ElementwiseOps) {
  LMD_REQUIRE_CUDA_DEVICE();
  Pair p;
  for (int dim : {200, 576, 1536}) {
    SCOPED_TRACE("dim " + std::to_string(dim));
    check_elementwise(p, 7, dim, {2, 0, 6, 2});
  }
}

// As the shim test, with the n >= 16 paths on the real tensor cores and cuBLAS.
TEST(CudaDeviceOps, LinearEveryFormat) {
  LMD_REQUIRE_CUDA_DEVICE();
  for (DType dt : {DType::kF32, DType::kF16, DType::kBF16, DType::kInt4, DType::kI8}) {
    for (int group : {32, 64, 128}) {
      const bool dense = dt == DType::kF32 || dt == DType::kF16 || dt == DType::kBF16;
      if (dense && group != 32) continue;
      SCOPED_TRACE("dtype " + std::to_string(static_cast<int>(dt)) + " group " + std::to_string(group));
      Pair p;
      const std::vector<int> ns = dt == DType::kInt4 || dt == DType::kI8 ? std::vector<int>{1, 6, 16, 33}
                                                                          : std::vector<int>{1, 33};
      for (int n : ns) {
        SCOPED_TRACE("n " + std::to_string(n));
        check_linear(p, dt, group, n);
      }
    }
  }
}

struct KvCase {
  KvKind kind;
  int head_dim;
  int block_len;
};

// One step on both backends: rope + KV write, then attention; the device's KV bytes are
// judged by the CPU attention over them. `tol`: the attention tolerance.
void run_attention_step(Pair& p, const KvLayout& L, const AttentionParams& ap, Dev<uint8_t>& gpool,
                        std::vector<uint8_t>& cpool, const StepPlan& plan, uint32_t seed, float tol) {
  const int n = static_cast<int>(plan.tokens.size());
  const int qd = ap.head_num * ap.head_dim, kd = ap.kv_head_num * ap.head_dim, layer = L.num_layer - 1;
  const auto q = randn(static_cast<size_t>(n) * qd, seed), k = randn(static_cast<size_t>(n) * kd, seed + 1),
             v = randn(static_cast<size_t>(n) * kd, seed + 2);
  Dev<float> gq(*p.gpu, q), gk(*p.gpu, k), gv(*p.gpu, v), go(*p.gpu, static_cast<size_t>(n) * qd);
  std::vector<float> cq = q, ck = k, co(static_cast<size_t>(n) * qd);
  p.gpu->begin_step(plan, L, gpool.get(), ap);
  p.cpu->begin_step(plan, L, cpool.data(), ap);
  p.gpu->rope_kv_write(layer, gq.get(), gk.get(), gv.get(), n);
  p.cpu->rope_kv_write(layer, cq.data(), ck.data(), v.data(), n);
  expect_close(gq.host(), cq, 1e-6f, "rope q");
  expect_close(gk.host(), ck, 1e-6f, "rope k");
  p.gpu->attention(layer, gq.get(), go.get(), n);
  p.cpu->attention(layer, cq.data(), co.data(), n);
  expect_close(go.host(), co, tol, "attention");

  // The device's pool as the CPU reads it: the history of this and earlier steps.
  std::vector<uint8_t> dev_pool = gpool.host();
  size_t differ = 0;
  for (size_t i = 0; i < dev_pool.size(); ++i) differ += dev_pool[i] != cpool[i];
  auto judge = create_cpu_backend(CpuBackendOptions{1, true, false});
  std::vector<float> jo(co.size());
  judge->begin_step(plan, L, dev_pool.data(), ap);
  judge->attention(layer, cq.data(), jo.data(), n);
  expect_close(jo, co, tol, "CPU attention over the device's KV bytes");
  std::printf("[ kv bytes ] %zu of %zu differ from the CPU's (FMA-contracted RoPE)\n", differ, dev_pool.size());
  cpool = dev_pool;  // both continue from the same history
}

// Decode rows and prefill rows (>= 16 per sequence: the tensor-core prefill kernel for the
// f16 / int8 / int4 caches) beside rows on history, block tables out of order, several
// attention splits, GQA, partial rotary, dynamic NTK and logN past max_position_embeddings.
TEST(CudaDeviceOps, RopeKvWriteAndAttention) {
  LMD_REQUIRE_CUDA_DEVICE();
  for (KvKind kind : {KvKind::kF32, KvKind::kF16, KvKind::kInt8, KvKind::kInt4}) {
    for (int hd : {64, 128}) {
      SCOPED_TRACE("kv kind " + std::to_string(static_cast<int>(kind)) + " hd " + std::to_string(hd));
      Pair p;
      CudaBackendOptions small_splits;
      small_splits.attention_split_len = 16;  // several splits: exercises the reduce
      p.gpu = create_cuda_backend(small_splits);
      KvLayout L;
      L.num_layer = 2;
      L.kv_head_num = 2;
      L.head_dim = hd;
      L.block_len = 16;
      L.kind = kind;
      AttentionParams ap;
      ap.head_num = 6;  // GQA 3
      ap.kv_head_num = 2;
      ap.head_dim = hd;
      ap.rot_dim = hd - 16;  // partial rotary
      ap.rope_scaling_factor = 2.0f;
      ap.max_position_embeddings = 48;
      ap.use_logn_attn = true;
      const int blocks = 16;
      Dev<uint8_t> gpool(*p.gpu, L.block_bytes() * blocks);
      std::vector<uint8_t> cpool(L.block_bytes() * blocks, 0);
      // f32 KV never leaves fp32 (2e-5); otherwise Q, K, V, P are fp16 mma inputs (2e-3).
      const float tol = kind == KvKind::kF32 ? 2e-5f : 2e-3f;
      StepPlan a;  // prefill 11 (decode kernel) and 13 + 24 (prefill kernel)
      a.tokens.assign(48, 1);
      a.seqs = {StepSequence{1, 0, 11, 0, true, {7, 2}}, StepSequence{2, 11, 13, 0, true, {4, 0, 11}},
                StepSequence{3, 24, 24, 0, true, {5, 9, 12}}};
      run_attention_step(p, L, ap, gpool, cpool, a, 100, tol);
      StepPlan b;  // decode rows beside a prefill chunk on history
      b.tokens.assign(42, 1);
      b.seqs = {StepSequence{3, 0, 40, 24, true, {5, 9, 12, 13, 14}}, StepSequence{1, 40, 1, 11, true, {7, 2}},
                StepSequence{2, 41, 1, 13, true, {4, 0, 11}}};
      run_attention_step(p, L, ap, gpool, cpool, b, 200, tol);
    }
  }
}

}  // namespace
}  // namespace lmd
