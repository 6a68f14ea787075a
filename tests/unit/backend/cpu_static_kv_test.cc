// Static int8 kv_qparams on the CPU backend: after set_kv_static_params, rope_kv_write stores
// a layer's K / V rows exactly as the reference quantisation below (lmdeploy's static codes in
// the online int8 row format), a layer without parameters keeps the online per-row codes, and
// bad parameters or a non-int8 cache are errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/error.h"
#include "kernels/common/kv_quant.h"

namespace lmd {
namespace {

std::vector<float> randn(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}

// The reference: this step's K / V rows of `layer` (K already rotated) written into `pool`,
// with static parameters par = (k_scale, k_zp, v_scale, v_zp): unsigned code q + 128 with
// q = clamp(rint((x - zp) / scale), -128, 127), row parameters (scale, zp - 128 scale); or,
// with par null, the online per-row int8 codes.
void reference_kv_write(const KvLayout& L, uint8_t* pool, const StepPlan& plan, int layer, const float* k,
                        const float* v, const float* par) {
  const int d = L.head_dim, kd = L.kv_head_num * d;
  for (const auto& s : plan.seqs)
    for (int i = 0; i < s.n_tokens; ++i) {
      const int pos = s.history_len + i, slot = pos % L.block_len;
      uint8_t* block = pool + L.block_bytes() * static_cast<size_t>(s.block_table[pos / L.block_len]);
      const size_t t = static_cast<size_t>(s.token_offset + i);
      for (int kv = 0; kv < 2; ++kv)
        for (int h = 0; h < L.kv_head_num; ++h) {
          const float* src = (kv == 0 ? k : v) + t * kd + h * d;
          uint8_t* dst = block + L.row_offset(layer, kv, h, slot);
          float rp[2];
          if (par) {
            const float scale = par[2 * kv], zp = par[2 * kv + 1];
            for (int j = 0; j < d; ++j)
              dst[j] = static_cast<uint8_t>(static_cast<int>(kv_quantize_static_int8(src[j], scale, zp)) + 128);
            rp[0] = scale;
            rp[1] = zp - 128.0f * scale;
          } else {
            const KvQuantParams p = kv_quantize_row_int8(src, d, dst);
            rp[0] = p.scale;
            rp[1] = p.zero;
          }
          std::memcpy(block + L.param_offset(layer, kv, h, slot), rp, sizeof(rp));
        }
    }
}

KvLayout int8_layout(int num_layer, int head_dim) {
  KvLayout L;
  L.num_layer = num_layer;
  L.kv_head_num = 2;
  L.head_dim = head_dim;
  L.block_len = 4;
  L.kind = KvKind::kInt8;
  return L;
}

AttentionParams attention_params(int head_dim) {
  AttentionParams ap;
  ap.head_num = 6;
  ap.kv_head_num = 2;
  ap.head_dim = head_dim;
  return ap;
}

TEST(CpuStaticKv, RopeKvWriteWritesTheReferenceBytes) {
  for (int head_dim : {64, 128}) {
    SCOPED_TRACE("head_dim " + std::to_string(head_dim));
    auto cpu = create_cpu_backend(CpuBackendOptions{});
    const KvLayout L = int8_layout(3, head_dim);
    const AttentionParams ap = attention_params(head_dim);
    // Layer 0: scales small enough that |x - zp| > 128 scale clamps; layer 1: wide ones;
    // layer 2: none (online codes).
    const float par[2][4] = {{0.01f, 0.2f, 0.008f, -0.3f}, {0.05f, -0.1f, 0.03f, 0.05f}};
    for (int l = 0; l < 2; ++l) cpu->set_kv_static_params(l, par[l]);
    const size_t pool_bytes = L.block_bytes() * 8;
    std::vector<uint8_t> got(pool_bytes, 0), want(pool_bytes, 0);
    const int qd = ap.head_num * head_dim, kd = ap.kv_head_num * head_dim;

    StepPlan prefill;  // two sequences, out-of-order blocks, a partial last block
    prefill.tokens.assign(9, 1);
    prefill.seqs = {StepSequence{1, 0, 6, 0, true, {5, 1}}, StepSequence{2, 6, 3, 0, true, {3}}};
    StepPlan decode;  // one token each on top of that history
    decode.tokens.assign(2, 1);
    decode.seqs = {StepSequence{1, 0, 1, 6, true, {5, 1}}, StepSequence{2, 1, 1, 3, true, {3}}};
    uint32_t seed = 10;
    int clamped = 0;
    for (const StepPlan* plan : {&prefill, &decode}) {
      const int n = static_cast<int>(plan->tokens.size());
      cpu->begin_step(*plan, L, got.data(), ap);
      for (int layer = 0; layer < L.num_layer; ++layer) {
        std::vector<float> q = randn(static_cast<size_t>(n) * qd, seed++);
        std::vector<float> k = randn(static_cast<size_t>(n) * kd, seed++);
        const std::vector<float> v = randn(static_cast<size_t>(n) * kd, seed++);
        cpu->rope_kv_write(layer, q.data(), k.data(), v.data(), n);  // rotates k in place
        const float* p = layer < 2 ? par[layer] : nullptr;
        reference_kv_write(L, want.data(), *plan, layer, k.data(), v.data(), p);
        if (p)
          for (float x : k) clamped += std::fabs(x - p[1]) > 128.0f * p[0];
      }
    }
    EXPECT_GT(clamped, 0) << "the test should exercise the clamp to [-128, 127]";
    size_t diff = 0;
    for (size_t i = 0; i < pool_bytes; ++i) diff += got[i] != want[i];
    EXPECT_EQ(diff, 0u) << "KV pool bytes differ from the reference quantisation";
  }
}

TEST(CpuStaticKv, ParamsAreCheckedAndNeedAnInt8Cache) {
  auto cpu = create_cpu_backend(CpuBackendOptions{});
  const float zero_scale[4] = {0.0f, 0.0f, 0.1f, 0.0f};
  EXPECT_THROW(cpu->set_kv_static_params(0, zero_scale), Error);
  const float nan_zp[4] = {0.1f, 0.0f, 0.1f, NAN};
  EXPECT_THROW(cpu->set_kv_static_params(0, nan_zp), Error);
  const float ok[4] = {0.1f, 0.0f, 0.1f, 0.0f};
  cpu->set_kv_static_params(0, ok);
  KvLayout L = int8_layout(1, 64);
  L.kind = KvKind::kF16;
  const AttentionParams ap = attention_params(64);
  std::vector<uint8_t> pool(L.block_bytes(), 0);
  StepPlan plan;
  plan.tokens.assign(1, 1);
  plan.seqs = {StepSequence{1, 0, 1, 0, true, {0}}};
  std::vector<float> q(6 * 64, 0.5f), k(2 * 64, 0.5f), v(2 * 64, 0.5f);
  cpu->begin_step(plan, L, pool.data(), ap);
  EXPECT_THROW(cpu->rope_kv_write(0, q.data(), k.data(), v.data(), 1), Error);
}

}  // namespace
}  // namespace lmd
