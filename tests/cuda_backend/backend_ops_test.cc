// Every Backend op of the CUDA backend (executed under the shim) against the CPU backend's
// exact fp32 path, on random inputs and tiny random weights of every supported format.
// Tolerances: element conversions and KV bytes exact; sums 1e-5 relative to the largest
// magnitude (the kernels add in a different order than the CPU). Helpers: backend_pair.h.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/device_registry.h"
#include "kernels/common/half.h"
#include "core/weights.h"
#include "tests/cuda_backend/backend_pair.h"

namespace lmd {
namespace {

using namespace backend_test;  // NOLINT: randn, random_weight, Dev, expect_close, Pair

TEST(CudaBackendShim, ReportsTheShimDevice) {
  ASSERT_NE(find_device_kind("cuda"), nullptr);  // registered by shim_device.cc
  const auto devs = cuda_devices();
  ASSERT_EQ(devs.size(), 1u);
  EXPECT_NE(devs[0].name.find("shim"), std::string::npos) << devs[0].name;
  EXPECT_STREQ(create_cuda_backend()->name(), "cuda");
  CudaBackendOptions bad;
  bad.device = 3;
  EXPECT_THROW(create_cuda_backend(bad), Error);
}

TEST(CudaBackendShim, MemoryIsZeroedAndRoundTrips) {
  Pair p;
  Dev<float> d(*p.gpu, 1000);
  for (float v : d.host()) ASSERT_EQ(v, 0.0f);  // fresh shim allocations are 0xFF poison
  const std::vector<float> src = randn(1000, 3);
  Dev<float> e(*p.gpu, src);
  EXPECT_EQ(e.host(), src);
}

TEST(CudaBackendShim, EmbeddingEveryFormat) {
  for (DType dt : {DType::kF32, DType::kF16, DType::kBF16, DType::kInt4, DType::kI8}) {
    SCOPED_TRACE(static_cast<int>(dt));
    Pair p;
    check_embedding(p, dt);
    const WeightTensor w = random_weight(dt, 37, 128, 32, 5);
    auto wg = p.gpu->upload_weight(w);
    Dev<float> out(*p.gpu, 128);
    const int32_t bad = 37;  // one past the table
    EXPECT_THROW(p.gpu->embedding(*wg, &bad, 1, out.get()), Error);
  }
}

TEST(CudaBackendShim, ElementwiseOps) {
  Pair p;
  check_elementwise(p, 3, 200, {2, 0, 2});
}

// A fused group (bias, accumulate, a strided output) and a host output (staged): the 4-token
// GEMV; 8-token GEMV, one and two tiles; n >= 16 (prefill-sized): the tensor-core W4A16 GEMM
// for int4 and cuBLAS (its shim twin) for f16 / bf16, partial 32-token tiles.
TEST(CudaBackendShim, LinearEveryFormat) {
  for (DType dt : {DType::kF32, DType::kF16, DType::kBF16, DType::kInt4, DType::kI8}) {
    for (int group : {32, 64, 128}) {
      if ((dt == DType::kF32 || dt == DType::kF16 || dt == DType::kBF16) && group != 32) continue;
      SCOPED_TRACE("dtype " + std::to_string(static_cast<int>(dt)) + " group " + std::to_string(group));
      Pair p;
      for (int n : {1, 6, 13, 16, 33}) {
        SCOPED_TRACE("n " + std::to_string(n));
        check_linear(p, dt, group, n);
      }
    }
  }
}

// int4 shapes the tensor-core GEMM cannot take (cols not a multiple of 32, group 16: the CUDA
// backend accepts them, the CPU backend does not) are not repacked and stay on the SIMT GEMV at
// prefill-sized n: vs a double reference over WeightTensor::to_f32 within 2e-6 of the largest
// value (the GEMM's f16 rounding would not pass this).
TEST(CudaBackendShim, LinearInt4OddShapesUseTheGemv) {
  Pair p;
  for (int cols : {48, 80}) {
    SCOPED_TRACE("cols " + std::to_string(cols));
    const int n = 17, rows = 19;
    const WeightTensor w = random_weight(DType::kInt4, rows, cols, 16, 21);
    const std::vector<float> wf = w.to_f32();
    auto g = p.gpu->upload_weight(w);
    const auto x = randn(static_cast<size_t>(n) * cols, 22), bias = randn(rows, 23);
    Dev<float> dx(*p.gpu, x), dbias(*p.gpu, bias), dy(*p.gpu, static_cast<size_t>(n) * rows);
    std::vector<float> ref(static_cast<size_t>(n) * rows);
    for (int t = 0; t < n; ++t)
      for (int r = 0; r < rows; ++r) {
        double acc = bias[r];
        for (int c = 0; c < cols; ++c)
          acc += static_cast<double>(wf[static_cast<size_t>(r) * cols + c]) * x[static_cast<size_t>(t) * cols + c];
        ref[static_cast<size_t>(t) * rows + r] = static_cast<float>(acc);
      }
    const LinearOut go{g.get(), dbias.get(), dy.get(), 0, false};
    p.gpu->linear(dx.get(), n, &go, 1);
    expect_close(dy.host(), ref, 2e-6f, "int4 linear, odd shape");
  }
}

// RoPE + KV write + attention over a step with a prefill chunk on top of history and a
// decode token, block tables out of order, for every KV kind and both pairings.
TEST(CudaBackendShim, RopeKvWriteAndAttention) {
  for (KvKind kind : {KvKind::kF32, KvKind::kF16, KvKind::kInt8, KvKind::kInt4}) {
    for (RopePairing pairing : {RopePairing::kHalfSplit, RopePairing::kAdjacent}) {
      SCOPED_TRACE("kv kind " + std::to_string(static_cast<int>(kind)) + " pairing " +
                   std::to_string(static_cast<int>(pairing)));
      Pair p;
      CudaBackendOptions small_splits;
      small_splits.attention_split_len = 8;  // several splits: exercises the reduce
      p.gpu = create_cuda_backend(small_splits);
      KvLayout L;
      L.num_layer = 2;
      L.kv_head_num = 2;
      L.head_dim = 64;
      L.block_len = 4;
      L.kind = kind;
      AttentionParams ap;
      ap.head_num = 6;  // GQA 3
      ap.kv_head_num = 2;
      ap.head_dim = 64;
      ap.rot_dim = 48;  // partial rotary
      ap.rope_pairing = pairing;
      ap.rope_scaling_factor = 2.0f;  // dynamic NTK beyond 16 positions
      ap.max_position_embeddings = 16;
      ap.use_logn_attn = true;
      const int blocks = 12;
      const size_t pool_bytes = L.block_bytes() * blocks;
      Dev<uint8_t> gpool(*p.gpu, pool_bytes);
      std::vector<uint8_t> cpool(pool_bytes, 0);
      const int qd = ap.head_num * 64, kd = ap.kv_head_num * 64;
      const int layer = 1;

      // Two steps: (a) seq A prefill 11 tokens, seq B prefill 3; (b) A decodes at 11, B
      // prefills 7 more (positions 3..9) — the history is read from the cache.
      auto run_step = [&](const StepPlan& plan, uint32_t seed) {
        const int n = static_cast<int>(plan.tokens.size());
        const auto q = randn(static_cast<size_t>(n) * qd, seed), k = randn(static_cast<size_t>(n) * kd, seed + 1),
                   v = randn(static_cast<size_t>(n) * kd, seed + 2);
        Dev<float> gq(*p.gpu, q), gk(*p.gpu, k), gv(*p.gpu, v), go(*p.gpu, static_cast<size_t>(n) * qd);
        std::vector<float> cq = q, ck = k, co(static_cast<size_t>(n) * qd);
        p.gpu->begin_step(plan, L, gpool.get(), ap);
        p.cpu->begin_step(plan, L, cpool.data(), ap);
        p.gpu->rope_kv_write(layer, gq.get(), gk.get(), gv.get(), n);
        p.cpu->rope_kv_write(layer, cq.data(), ck.data(), v.data(), n);
        expect_close(gq.host(), cq, 0.0f, "rope q");
        expect_close(gk.host(), ck, 0.0f, "rope k");
        EXPECT_TRUE(gpool.host() == cpool) << "KV pool bytes differ";
        p.gpu->attention(layer, gq.get(), go.get(), n);
        p.cpu->attention(layer, cq.data(), co.data(), n);
        expect_close(go.host(), co, 2e-5f, "attention");
      };
      StepPlan a;
      a.tokens.assign(14, 1);
      a.seqs = {StepSequence{1, 0, 11, 0, true, {7, 2, 9}}, StepSequence{2, 11, 3, 0, true, {4, 0, 11}}};
      run_step(a, 100);
      StepPlan b;
      b.tokens.assign(8, 1);
      b.seqs = {StepSequence{1, 0, 1, 11, true, {7, 2, 9}}, StepSequence{2, 1, 7, 3, true, {4, 0, 11}}};
      run_step(b, 200);
      StepPlan c;  // A grows past max_position: NTK base and logN change
      c.tokens.assign(8, 1);
      c.seqs = {StepSequence{1, 0, 8, 12, true, {7, 2, 9, 1, 3}}};
      run_step(c, 300);
    }
  }
}

TEST(CudaBackendShim, ClearErrors) {
  Pair p;
  KvLayout L;
  L.num_layer = 1;
  L.kv_head_num = 1;
  L.head_dim = 32;
  AttentionParams ap;
  ap.head_num = 1;
  ap.kv_head_num = 1;
  ap.head_dim = 32;
  StepPlan plan;
  try {
    p.gpu->begin_step(plan, L, nullptr, ap);
    FAIL() << "head dim 32 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("head dim 32"), std::string::npos) << e.what();
  }
  int host = 0;
  EXPECT_THROW(p.gpu->free(&host), Error);
  WeightTensor odd = random_weight(DType::kInt4, 4, 96, 32, 1);
  odd.group_size = 64;  // 96 % 64 != 0
  EXPECT_THROW(p.gpu->upload_weight(odd), Error);
}

// Steps whose sequences have >= 16 rows go through the tensor-core prefill kernel
// (fp16 / int8 / int4 KV; an f32 cache keeps the exact decode kernel), beside decode rows
// and rows on history. Tolerance: Q, K, V and P are fp16 inputs of the mma (2e-3 of the
// largest output); 2e-5 on the f32 cache, which never leaves fp32.
TEST(CudaBackendShim, PrefillRowsThroughThePrefillKernel) {
  for (KvKind kind : {KvKind::kF32, KvKind::kF16, KvKind::kInt8, KvKind::kInt4}) {
    for (int hd : {64, 128}) {
      SCOPED_TRACE("kv kind " + std::to_string(static_cast<int>(kind)) + " hd " + std::to_string(hd));
      Pair p;
      KvLayout L;
      L.num_layer = 2;
      L.kv_head_num = 2;
      L.head_dim = hd;
      L.block_len = 16;
      L.kind = kind;
      AttentionParams ap;
      ap.head_num = 6;
      ap.kv_head_num = 2;
      ap.head_dim = hd;
      ap.rot_dim = hd;
      const int blocks = 16;
      const size_t pool_bytes = L.block_bytes() * blocks;
      Dev<uint8_t> gpool(*p.gpu, pool_bytes);
      std::vector<uint8_t> cpool(pool_bytes, 0);
      const int qd = ap.head_num * hd, kd = ap.kv_head_num * hd, layer = 1;
      auto run_step = [&](const StepPlan& plan, uint32_t seed, float tol) {
        const int n = static_cast<int>(plan.tokens.size());
        const auto q = randn(static_cast<size_t>(n) * qd, seed), k = randn(static_cast<size_t>(n) * kd, seed + 1),
                   v = randn(static_cast<size_t>(n) * kd, seed + 2);
        Dev<float> gq(*p.gpu, q), gk(*p.gpu, k), gv(*p.gpu, v), go(*p.gpu, static_cast<size_t>(n) * qd);
        std::vector<float> cq = q, ck = k, co(static_cast<size_t>(n) * qd);
        p.gpu->begin_step(plan, L, gpool.get(), ap);
        p.cpu->begin_step(plan, L, cpool.data(), ap);
        p.gpu->rope_kv_write(layer, gq.get(), gk.get(), gv.get(), n);
        p.cpu->rope_kv_write(layer, cq.data(), ck.data(), v.data(), n);
        EXPECT_TRUE(gpool.host() == cpool) << "KV pool bytes differ";
        for (int rep = 0; rep < 2; ++rep) {  // twice: the cached tile upload
          p.gpu->attention(layer, gq.get(), go.get(), n);
          p.cpu->attention(layer, cq.data(), co.data(), n);
          const auto g = go.host();
          expect_close(g, co, tol, "attention");
        }
      };
      StepPlan a;
      a.tokens.assign(24, 1);
      a.seqs = {StepSequence{1, 0, 11, 0, true, {7, 2}}, StepSequence{2, 11, 13, 0, true, {4, 0, 11}}};
      run_step(a, 100, 2e-5f);
      StepPlan b;
      b.tokens.assign(61, 1);
      b.seqs = {StepSequence{3, 0, 40, 0, true, {5, 9, 12}}, StepSequence{1, 40, 1, 11, true, {7, 2}},
                StepSequence{2, 41, 20, 13, true, {4, 0, 11}}};
      run_step(b, 200, kind == KvKind::kF32 ? 2e-5f : 2e-3f);
      StepPlan c;
      c.tokens.assign(17, 1);
      c.seqs = {StepSequence{1, 0, 17, 12, true, {7, 2, 13}}};
      run_step(c, 300, kind == KvKind::kF32 ? 2e-5f : 2e-3f);
    }
  }
}

}  // namespace
}  // namespace lmd
