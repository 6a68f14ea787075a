// Static int8 kv_qparams (lmdeploy `lite kv_qparams`: per-layer K/V scale and zero point) on
// the CUDA backend, executed under the shim:
//   * the backend's rope_kv_write with set_kv_static_params writes exactly the bytes the CPU
//     backend's static path writes (code q + 128, row params (scale, zp - 128 scale)) over the
//     CPU backend's rotated K and V — the scalar oracle is below;
//   * a tiny static-KV model runs on the CUDA backend (the engine no longer refuses it): same
//     pool size as on the CPU, the same greedy tokens, every row's (scale, zero) identical;
//   * SmolLM2 with (synthetic) static parameters: the same greedy tokens as on the CPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "common/paths.h"
#include "convert/load_model.h"
#include "kernels/common/kv_quant.h"
#include "model/llama.h"
#include "tokenizer/tokenizer.h"
#include "tests/unit/model/tiny_llama.h"
#include "tests/test_util/random.h"

namespace lmd {
namespace {

using test_util::randn;

// The oracle: lmdeploy's static int8 KV stored in our layout (core/kv_layout.h) as llama.cc
// does — unsigned code q + 128 with q = clamp(rint((x - zp) / scale), -128, 127), params
// (scale, zp - 128 scale).
void store_static(const KvLayout& L, uint8_t* pool, const StepPlan& plan, int layer, const float* k, const float* v,
                  const float* par) {
  const int d = L.head_dim, kd = L.kv_head_num * d;
  for (const auto& s : plan.seqs)
    for (int i = 0; i < s.n_tokens; ++i) {
      const int pos = s.history_len + i;
      uint8_t* block = pool + L.block_bytes() * static_cast<size_t>(s.block_table[pos / L.block_len]);
      const size_t t = static_cast<size_t>(s.token_offset + i);
      for (int kv = 0; kv < 2; ++kv) {
        const float scale = par[2 * kv], zp = par[2 * kv + 1];
        const float* src = (kv == 0 ? k : v) + t * kd;
        for (int h = 0; h < L.kv_head_num; ++h) {
          uint8_t* dst = block + L.row_offset(layer, kv, h, pos % L.block_len);
          for (int j = 0; j < d; ++j)
            dst[j] = static_cast<uint8_t>(static_cast<int>(kv_quantize_static_int8(src[h * d + j], scale, zp)) + 128);
          float rp[2] = {scale, zp - 128.0f * scale};
          std::memcpy(block + L.param_offset(layer, kv, h, pos % L.block_len), rp, sizeof(rp));
        }
      }
    }
}

TEST(CudaStaticKv, RopeKvWriteWritesTheHostPathsBytes) {
  for (int head_dim : {64, 128}) {
    SCOPED_TRACE("head_dim " + std::to_string(head_dim));
    auto gpu = create_cuda_backend();
    auto cpu = create_cpu_backend(CpuBackendOptions{1, true, false});
    KvLayout L;
    L.num_layer = 2;
    L.kv_head_num = 2;
    L.head_dim = head_dim;
    L.block_len = 4;
    L.kind = KvKind::kInt8;
    AttentionParams ap;
    ap.head_num = 6;
    ap.kv_head_num = 2;
    ap.head_dim = head_dim;
    // Layer 0: a scale small enough that |x| > 128 scale clamps; layer 1: a wide one.
    const float par[2][4] = {{0.01f, 0.2f, 0.008f, -0.3f}, {0.05f, -0.1f, 0.03f, 0.05f}};
    for (int l = 0; l < 2; ++l) gpu->set_kv_static_params(l, par[l]);
    const int blocks = 8;
    const size_t pool_bytes = L.block_bytes() * blocks;
    uint8_t* gpool = static_cast<uint8_t*>(gpu->alloc(pool_bytes));
    std::vector<uint8_t> cpool(pool_bytes, 0), want(pool_bytes, 0);
    const int qd = ap.head_num * head_dim, kd = ap.kv_head_num * head_dim;

    StepPlan a;  // two sequences, out-of-order blocks, a partial last block
    a.tokens.assign(9, 1);
    a.seqs = {StepSequence{1, 0, 6, 0, true, {5, 1}}, StepSequence{2, 6, 3, 0, true, {3}}};
    StepPlan b;  // decode steps on top of the history
    b.tokens.assign(2, 1);
    b.seqs = {StepSequence{1, 0, 1, 6, true, {5, 1}}, StepSequence{2, 1, 1, 3, true, {3}}};
    uint32_t seed = 10;
    int clamped = 0;
    for (const StepPlan* plan : {&a, &b}) {
      const int n = static_cast<int>(plan->tokens.size());
      for (int layer = 0; layer < 2; ++layer) {
        const auto q = randn(static_cast<size_t>(n) * qd, seed++, 1.0f);
        const auto k = randn(static_cast<size_t>(n) * kd, seed++, 1.0f);
        const auto v = randn(static_cast<size_t>(n) * kd, seed++, 1.0f);
        float* gq = static_cast<float*>(gpu->alloc(q.size() * 4));
        float* gk = static_cast<float*>(gpu->alloc(k.size() * 4));
        float* gv = static_cast<float*>(gpu->alloc(v.size() * 4));
        gpu->copy_to_device(gq, q.data(), q.size() * 4);
        gpu->copy_to_device(gk, k.data(), k.size() * 4);
        gpu->copy_to_device(gv, v.data(), v.size() * 4);
        std::vector<float> cq = q, ck = k;
        gpu->begin_step(*plan, L, gpool, ap);
        cpu->begin_step(*plan, L, cpool.data(), ap);
        gpu->rope_kv_write(layer, gq, gk, gv, n);
        cpu->rope_kv_write(layer, cq.data(), ck.data(), v.data(), n);  // the rotated K
        store_static(L, want.data(), *plan, layer, ck.data(), v.data(), par[layer]);
        for (float x : ck) clamped += std::fabs(x - par[layer][1]) > 128.0f * par[layer][0];
        std::vector<float> gk_host(k.size());
        gpu->copy_to_host(gk_host.data(), gk, k.size() * 4);
        EXPECT_EQ(gk_host, ck) << "rotated K differs";
        for (float* p : {gq, gk, gv}) gpu->free(p);
      }
    }
    EXPECT_GT(clamped, 0) << "the test should exercise the clamp to [-128, 127]";
    std::vector<uint8_t> got(pool_bytes);
    gpu->copy_to_host(got.data(), gpool, pool_bytes);
    size_t diff = 0;
    for (size_t i = 0; i < pool_bytes; ++i) diff += got[i] != want[i];
    EXPECT_EQ(diff, 0u) << "KV pool bytes differ from the static int8 host path";
    EXPECT_NE(cpool, want) << "the online int8 codes must differ from the static ones (else the test proves nothing)";
    gpu->free(gpool);
  }
}

TEST(CudaStaticKv, ParamsAreCheckedAndNeedAnInt8Cache) {
  auto gpu = create_cuda_backend();
  const float bad[4] = {0.0f, 0.0f, 0.1f, 0.0f};
  EXPECT_THROW(gpu->set_kv_static_params(0, bad), Error);
  const float ok[4] = {0.1f, 0.0f, 0.1f, 0.0f};
  gpu->set_kv_static_params(0, ok);
  KvLayout L;
  L.num_layer = 1;
  L.kv_head_num = 1;
  L.head_dim = 64;
  L.block_len = 4;
  L.kind = KvKind::kF16;
  AttentionParams ap;
  ap.head_num = 1;
  ap.kv_head_num = 1;
  ap.head_dim = 64;
  uint8_t* pool = static_cast<uint8_t*>(gpu->alloc(L.block_bytes()));
  float* x = static_cast<float*>(gpu->alloc(64 * 4));
  const StepPlan plan = single_sequence_plan({1}, 0, {0}, true, 1);
  gpu->begin_step(plan, L, pool, ap);
  try {
    gpu->rope_kv_write(0, x, x, x, 1);
    FAIL() << "static kv_qparams with an fp16 cache accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not int8"), std::string::npos) << e.what();
  }
  gpu->free(x);
  gpu->free(pool);
  // The CPU backend takes the same hook: its rope_kv_write writes the static codes.
  auto cpu = create_cpu_backend(CpuBackendOptions{1, true, false});
  EXPECT_NO_THROW(cpu->set_kv_static_params(0, ok));
}

int32_t argmax(const std::vector<float>& v, size_t off, int n) {
  return static_cast<int32_t>(std::max_element(v.begin() + off, v.begin() + off + n) - (v.begin() + off));
}

TEST(CudaStaticKv, TinyModelMatchesTheCpuModel) {
  testing::TinySpec spec;
  spec.hidden = 256;  // head dim 64: what the CUDA attention kernel takes
  spec.heads = 4;
  spec.kv_heads = 2;
  spec.inter = 192;
  spec.vocab = 97;
  spec.layers = 2;
  ModelWeights w = testing::make_tiny_llama(spec);
  const float par[2][4] = {{0.02f, 0.05f, 0.015f, -0.02f}, {0.03f, -0.1f, 0.02f, 0.0f}};
  for (int l = 0; l < 2; ++l) w.layers[l].past_kv_scale = make_dense(DType::kF32, {4}, par[l]);
  ModelRuntimeOptions o;
  o.threads = 1;
  o.exact = true;
  o.kv_kind = KvKind::kInt8;
  o.block_len = 4;
  o.kv_num_blocks = 6;
  auto cpu = create_llama_model(w, o);
  o.make_backend = [] { return create_cuda_backend(); };
  auto gpu = create_llama_model(w, o);
  ASSERT_TRUE(cpu->kv_static());
  ASSERT_TRUE(gpu->kv_static());
  EXPECT_EQ(gpu->kv_pool_bytes(), cpu->kv_pool_bytes());
  const KvLayout& L = cpu->kv_layout();

  std::vector<int32_t> ids = {3, 17, 42, 5, 88, 1, 60, 23, 9, 71};
  const std::vector<int32_t> table = {4, 0, 2, 5};
  std::vector<float> cl(spec.vocab), gl(spec.vocab);
  std::vector<int32_t> cpu_tokens, gpu_tokens;
  double max_diff = 0.0;
  int32_t history = 0;
  for (int step = 0; step < 4; ++step) {
    const StepPlan plan =
        single_sequence_plan(step == 0 ? ids : std::vector<int32_t>{cpu_tokens.back()}, history, table, true, 1);
    cpu->forward(plan, cl.data());
    gpu->forward(plan, gl.data());
    cpu_tokens.push_back(argmax(cl, 0, spec.vocab));
    gpu_tokens.push_back(argmax(gl, 0, spec.vocab));
    for (int i = 0; i < spec.vocab; ++i) max_diff = std::max(max_diff, static_cast<double>(std::fabs(cl[i] - gl[i])));
    history += static_cast<int32_t>(plan.tokens.size());
  }
  EXPECT_EQ(gpu_tokens, cpu_tokens);
  EXPECT_LT(max_diff, 1e-3) << "logits of the static-KV model differ between the backends";

  // Every written row: the static (scale, zero) exactly; codes equal up to a rounding
  // boundary crossed by the backends' different summation orders in the K/V projections.
  size_t rows = 0, codes = 0, off_by_one = 0;
  for (int pos = 0; pos < history; ++pos) {
    const int32_t blk = table[pos / L.block_len];
    const uint8_t* cb = cpu->kv_block(blk);
    const uint8_t* gb = gpu->kv_block(blk);  // shim device memory is host memory
    for (int layer = 0; layer < L.num_layer; ++layer)
      for (int kv = 0; kv < 2; ++kv)
        for (int h = 0; h < L.kv_head_num; ++h) {
          const int slot = pos % L.block_len;
          float cp[2], gp[2];
          std::memcpy(cp, cb + L.param_offset(layer, kv, h, slot), sizeof(cp));
          std::memcpy(gp, gb + L.param_offset(layer, kv, h, slot), sizeof(gp));
          EXPECT_EQ(gp[0], par[layer][2 * kv]);
          EXPECT_EQ(gp[0], cp[0]);
          EXPECT_EQ(gp[1], cp[1]);
          ++rows;
          for (int j = 0; j < L.head_dim; ++j) {
            const int a = cb[L.row_offset(layer, kv, h, slot) + j], b = gb[L.row_offset(layer, kv, h, slot) + j];
            ++codes;
            EXPECT_LE(std::abs(a - b), 1) << "pos " << pos << " layer " << layer << " kv " << kv << " head " << h;
            off_by_one += a != b;
          }
        }
  }
  EXPECT_EQ(rows, static_cast<size_t>(history) * L.num_layer * 2 * L.kv_head_num);
  EXPECT_LE(off_by_one, codes / 100) << off_by_one << " of " << codes << " codes differ by one";
}

}  // namespace
}  // namespace lmd

namespace lmd {
namespace {

// SmolLM2-135M (the default model) with static int8 KV parameters on every layer, through the
// CUDA backend under the shim and the CPU backend: the same greedy tokens. The parameters are
// synthetic (scale 0.25, zero 0: K / V within +-32 — SmolLM2's are), not from `lite kv_qparams`.
TEST(CudaStaticKv, SmolLM2SameGreedyTokensAsCpu) {
  const char* env = std::getenv("LMD_MODEL_PATH");
  const std::string path = env && *env ? std::string(env) : default_model_path();
  ASSERT_TRUE(std::ifstream(path).good()) << "model file " << path
                                          << " missing: run tools/fetch_model.sh or set LMD_MODEL_PATH";
  ModelWeights w = load_model_weights(path);
  const float par[4] = {0.25f, 0.0f, 0.25f, 0.0f};
  for (auto& l : w.layers) l.past_kv_scale = make_dense(DType::kF32, {4}, par);
  ModelRuntimeOptions o;
  o.threads = 2;
  o.exact = true;
  o.kv_kind = KvKind::kInt8;
  o.block_len = 16;
  o.kv_num_blocks = 2;
  auto cpu = create_llama_model(w, o);
  o.make_backend = [] { return create_cuda_backend(); };
  auto gpu = create_llama_model(w, o);
  ASSERT_TRUE(gpu->kv_static());
  const auto tok = load_tokenizer(path);
  const std::vector<int32_t> ids = tok->encode("The capital of France is", tok->add_bos_default());
  const int vocab = w.config.vocab_size;
  std::vector<float> cl(vocab), gl(vocab);
  std::vector<int32_t> ct, gt;
  int32_t history = 0;
  for (int step = 0; step < 3; ++step) {
    const StepPlan plan = single_sequence_plan(step == 0 ? ids : std::vector<int32_t>{ct.back()}, history, {0, 1},
                                               true, 1);
    cpu->forward(plan, cl.data());
    gpu->forward(plan, gl.data());
    ct.push_back(argmax(cl, 0, vocab));
    gt.push_back(argmax(gl, 0, vocab));
    history += static_cast<int32_t>(plan.tokens.size());
  }
  EXPECT_EQ(gt, ct);
}

}  // namespace
}  // namespace lmd
