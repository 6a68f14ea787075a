// The Llama forward on tiny random weights vs a naive float64 forward (tiny_llama.h), and
// the invariances the engine relies on: chunking, batching, KV kinds, ISA choice.
#include "model/llama.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/cpu_features.h"
#include "tiny_llama.h"

namespace lmd {
namespace {

using testing::TinySpec;

// Feeds one sequence in steps of `chunk` tokens; returns the logits of every step's last
// token, keyed by position.
struct Runner {
  std::unique_ptr<LlamaModel> model;
  int block_len;
  int32_t next_block = 0;
  Runner(const ModelWeights& w, KvKind kind, bool exact, int block_len = 4, int threads = 2)
      : block_len(block_len) {
    ModelRuntimeOptions o;
    o.kv_kind = kind;
    o.exact = exact;
    o.block_len = block_len;
    o.kv_num_blocks = 64;
    o.threads = threads;
    model = create_llama_model(w, o);
  }
  // Blocks are handed out from the top of the pool down so tables are not the identity.
  std::vector<int32_t> blocks_for(int64_t positions) {
    std::vector<int32_t> t;
    while (static_cast<int64_t>(t.size()) * block_len < positions) t.push_back(63 - next_block++);
    return t;
  }
  std::vector<std::vector<float>> run(const std::vector<int32_t>& ids, int chunk) {
    const auto table = blocks_for(static_cast<int64_t>(ids.size()));
    std::vector<std::vector<float>> out(ids.size());
    const int vocab = model->config().vocab_size;
    for (size_t b = 0; b < ids.size(); b += chunk) {
      const size_t e = std::min(ids.size(), b + chunk);
      const StepPlan p = single_sequence_plan(std::vector<int32_t>(ids.begin() + b, ids.begin() + e),
                                              static_cast<int32_t>(b), table);
      out[e - 1].resize(vocab);
      model->forward(p, out[e - 1].data());
    }
    return out;
  }
};

std::vector<int32_t> prompt(int n, int vocab, uint32_t seed) {
  std::vector<int32_t> ids(n);
  for (int i = 0; i < n; ++i) ids[i] = static_cast<int32_t>((seed * 7919u + i * 104729u) % vocab);
  return ids;
}

double max_abs(const double* v, int n) {
  double m = 0;
  for (int i = 0; i < n; ++i) m = std::max(m, std::fabs(v[i]));
  return m;
}

void expect_close_to_naive(const std::vector<float>& got, const std::vector<double>& ref, int pos, int vocab,
                           double rel, const std::string& what) {
  ASSERT_EQ(static_cast<int>(got.size()), vocab) << what << " pos " << pos;
  const double* r = ref.data() + static_cast<size_t>(pos) * vocab;
  const double tol = rel * max_abs(r, vocab);
  for (int i = 0; i < vocab; ++i) ASSERT_NEAR(got[i], r[i], tol) << what << " pos " << pos << " logit " << i;
}


TEST(Llama, ExactMatchesNaiveForwardAcrossWeightFormats) {
  struct Case {
    DType dtype;
    int group;
    bool bias, tie;
    RopePairing pairing;
  };
  const Case cases[] = {{DType::kF32, 0, false, true, RopePairing::kHalfSplit},
                        {DType::kF32, 0, true, false, RopePairing::kAdjacent},
                        {DType::kF16, 0, false, false, RopePairing::kHalfSplit},
                        {DType::kBF16, 0, true, true, RopePairing::kAdjacent},
                        {DType::kInt4, 32, false, true, RopePairing::kAdjacent},
                        {DType::kInt4, 64, true, false, RopePairing::kHalfSplit},
                        {DType::kI8, 32, false, true, RopePairing::kHalfSplit}};
  for (const Case& c : cases) {
    TinySpec s;
    s.dtype = c.dtype;
    s.group_size = c.group;
    s.attn_bias = c.bias;
    s.tie = c.tie;
    s.pairing = c.pairing;
    s.inter = c.group == 64 ? 128 : 96;
    const ModelWeights w = testing::make_tiny_llama(s);
    const auto ids = prompt(11, s.vocab, 3);
    const auto ref = testing::naive_logits(w, ids);
    Runner r(w, KvKind::kF32, /*exact=*/true);
    const auto got = r.run(ids, 1);
    const std::string what = std::string(dtype_name(c.dtype)) + (c.bias ? " bias" : "") +
                             (c.pairing == RopePairing::kAdjacent ? " adjacent" : " half");
    for (int pos = 0; pos < 11; ++pos) expect_close_to_naive(got[pos], ref, pos, s.vocab, 1e-4, what);
  }
}

TEST(Llama, PrefillChunkedAndDecodeAgree) {
  TinySpec s;
  const ModelWeights w = testing::make_tiny_llama(s);
  const auto ids = prompt(13, s.vocab, 5);
  const auto ref = testing::naive_logits(w, ids);
  for (int chunk : {13, 5, 3, 1}) {
    Runner r(w, KvKind::kF32, true);
    const auto got = r.run(ids, chunk);
    for (int pos = 0; pos < 13; ++pos)
      if (!got[pos].empty()) expect_close_to_naive(got[pos], ref, pos, s.vocab, 1e-4, "chunk " + std::to_string(chunk));
  }
}

TEST(Llama, EveryIsaMatchesNaiveInExactMode) {
  TinySpec s;
  s.dtype = DType::kInt4;
  const ModelWeights w = testing::make_tiny_llama(s);
  const auto ids = prompt(9, s.vocab, 8);
  const auto ref = testing::naive_logits(w, ids);
  const CpuIsa saved = cpu_isa();
  for (int isa = 0; isa <= static_cast<int>(detected_cpu_isa()); ++isa) {
    set_cpu_isa(static_cast<CpuIsa>(isa));
    Runner r(w, KvKind::kF16, true);
    const auto got = r.run(ids, 4);
    for (int pos = 0; pos < 9; ++pos)
      if (!got[pos].empty())
        expect_close_to_naive(got[pos], ref, pos, s.vocab, 2e-3, cpu_isa_name(static_cast<CpuIsa>(isa)));
  }
  set_cpu_isa(saved);
}

TEST(Llama, FastPathIsCloseToExactAndSameAcrossIsas) {
  TinySpec s;
  s.dtype = DType::kInt4;
  const ModelWeights w = testing::make_tiny_llama(s);
  const auto ids = prompt(10, s.vocab, 9);
  const auto ref = testing::naive_logits(w, ids);
  const CpuIsa saved = cpu_isa();
  std::vector<std::vector<float>> scalar;
  for (int isa = 0; isa <= static_cast<int>(detected_cpu_isa()); ++isa) {
    set_cpu_isa(static_cast<CpuIsa>(isa));
    Runner r(w, KvKind::kF16, /*exact=*/false);
    const auto got = r.run(ids, 10);
    // int8 activations: a few percent of the logit range at most
    expect_close_to_naive(got[9], ref, 9, s.vocab, 5e-2, "fast");
    if (isa == 0) {
      scalar = got;
    } else {
      for (int i = 0; i < s.vocab; ++i) ASSERT_NEAR(got[9][i], scalar[9][i], 1e-4 * (1 + std::fabs(scalar[9][i]))) << i;
    }
  }
  set_cpu_isa(saved);
}

TEST(Llama, TwoSequencesInOnePlanEqualEachAlone) {
  for (bool exact : {true, false}) {
    TinySpec s;
    s.dtype = exact ? DType::kF16 : DType::kInt4;
    const ModelWeights w = testing::make_tiny_llama(s);
    const auto a = prompt(7, s.vocab, 1), b = prompt(5, s.vocab, 2);
    Runner alone_a(w, KvKind::kF16, exact), alone_b(w, KvKind::kF16, exact);
    const auto la = alone_a.run(a, 7), lb = alone_b.run(b, 5);

    Runner both(w, KvKind::kF16, exact);
    StepPlan p;
    append_sequence(&p, a.data(), 7, 0, both.blocks_for(7), true);
    append_sequence(&p, b.data(), 5, 0, both.blocks_for(5), true);
    std::vector<float> logits(2 * s.vocab);
    both.model->forward(p, logits.data());
    for (int i = 0; i < s.vocab; ++i) {
      EXPECT_EQ(logits[i], la[6][i]) << "seq a logit " << i;
      EXPECT_EQ(logits[s.vocab + i], lb[4][i]) << "seq b logit " << i;
    }
    const auto argmax = [&](const float* v) { return std::max_element(v, v + s.vocab) - v; };
    EXPECT_EQ(argmax(logits.data()), argmax(la[6].data()));
    EXPECT_EQ(argmax(logits.data() + s.vocab), argmax(lb[4].data()));
  }
}

TEST(Llama, QuantizedKvIsCloseToFloatKv) {
  TinySpec s;
  const ModelWeights w = testing::make_tiny_llama(s);
  const auto ids = prompt(12, s.vocab, 4);
  const auto ref = testing::naive_logits(w, ids);
  struct K {
    KvKind kind;
    double rel;
    const char* name;
  };
  for (const K& k : {K{KvKind::kF16, 2e-3, "f16"}, K{KvKind::kInt8, 2e-2, "int8"}, K{KvKind::kInt4, 1.5e-1, "int4"}}) {
    Runner r(w, k.kind, true);
    const auto got = r.run(ids, 1);
    for (int pos = 0; pos < 12; ++pos) expect_close_to_naive(got[pos], ref, pos, s.vocab, k.rel, k.name);
  }
}

TEST(Llama, RejectsBadPlansAndWeights) {
  TinySpec s;
  ModelWeights w = testing::make_tiny_llama(s);
  Runner r(w, KvKind::kF16, true);
  StepPlan p = single_sequence_plan({1, 2, 3}, 0, {99});  // block outside the pool of 64
  std::vector<float> logits(s.vocab);
  EXPECT_THROW(r.model->forward(p, logits.data()), Error);
  p.seqs[0].block_table = {0};  // 1 block of 4 positions is enough; token id out of range:
  p.tokens[1] = 5000;
  EXPECT_THROW(r.model->forward(p, logits.data()), Error);

  w.layers[1].w2 = w.layers[1].w1;  // wrong shape
  ModelRuntimeOptions o;
  o.kv_num_blocks = 4;
  EXPECT_THROW(create_llama_model(w, o), Error);
}

TEST(Llama, KvPoolSizeFollowsLayout) {
  TinySpec s;
  const ModelWeights w = testing::make_tiny_llama(s);
  ModelRuntimeOptions o;
  o.kv_num_blocks = 10;
  o.block_len = 16;
  o.kv_kind = KvKind::kInt8;
  const auto m = create_llama_model(w, o);
  // layers * (K,V) * kv_heads * block_len * (head_dim bytes + 8 bytes of params)
  EXPECT_EQ(m->kv_pool_bytes(), 10u * 2 * 2 * 2 * 16 * (16 + 8));
  EXPECT_EQ(m->kv_block(3) - m->kv_block(0), static_cast<ptrdiff_t>(3 * m->kv_layout().block_bytes()));
  EXPECT_THROW(m->kv_block(10), Error);
}

}  // namespace
}  // namespace lmd
