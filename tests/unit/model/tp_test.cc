// Tensor parallelism: N rank models (TpModel over a CpuCommGroup) against the one-rank
// model on the same weights. Logits agree within 1e-4 of the row's largest |logit| (the
// wo / w2 partial sums are added in a different order, nothing else changes) and greedy
// tokens are identical on 20 prompts: a tiny random model with tp 2 and 4 (f32 and int4,
// q/k/v and o biases, int8 KV, exact and fast paths) and SmolLM2-135M (9 heads, 3 KV
// heads) with tp 3 on the exact path (the fast path: see check_smollm2_tp3); the engine
// over tp 3; workspaces re-sharded on load; clear errors.
#include "model/tp_model.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "backend/backend.h"
#include "comm/cpu_communicator.h"
#include "core/error.h"
#include "common/paths.h"
#include "convert/convert.h"
#include "convert/load_model.h"
#include "convert/tp_split.h"
#include "lmdeploy/engine.h"
#include "model/forward_runner.h"
#include "tiny_llama.h"
#include "tokenizer/tokenizer.h"

namespace lmd {
namespace {

using testing::TinySpec;

constexpr double kRel = 1e-4;
// The int8-activation fast path: tp changes the order of the wo / w2 partial sums, a one-ulp
// difference can move an activation to the neighbouring int8 code of its 32-block (a step of
// max|block| / 127), and the logits then differ by up to ~2e-4 of the row's max (measured on
// the tiny int4 model with the AVX2 kernels). Greedy tokens stay identical on these models.
constexpr double kRelFast = 1e-3;
// Exact path, 16-bit or quantised KV: the same one-ulp differences in K / V can round to the
// neighbouring fp16 value (or KV code); measured up to 1.02e-4 with fp16 KV (AVX2 and scalar
// kernels). The 1e-4 bound is asserted with fp32 KV.
double tolerance(bool exact, KvKind kv) {
  if (!exact) return kRelFast;
  return kv == KvKind::kF32 ? kRel : kv == KvKind::kF16 ? 5e-4 : kRelFast;
}

ModelRuntimeOptions options(bool exact, KvKind kv = KvKind::kF16, int blocks = 64, int block_len = 4) {
  ModelRuntimeOptions o;
  o.threads = 2;
  o.exact = exact;
  o.kv_kind = kv;
  o.kv_num_blocks = blocks;
  o.block_len = block_len;
  return o;
}

std::vector<std::vector<int32_t>> prompts(int count, int vocab, int min_len, int max_len) {
  std::vector<std::vector<int32_t>> out;
  for (int p = 0; p < count; ++p) {
    const int len = min_len + (p * 7) % (max_len - min_len + 1);
    std::vector<int32_t> ids(len);
    for (int i = 0; i < len; ++i) ids[i] = static_cast<int32_t>((p * 7919u + i * 104729u + 17u) % vocab);
    out.push_back(ids);
  }
  return out;
}

// |a - b| <= rel * max|a| over one row of logits.
void expect_row_close(const float* a, const float* b, int vocab, const std::string& what, double rel = kRel) {
  double m = 0;
  for (int i = 0; i < vocab; ++i) m = std::max(m, std::fabs(static_cast<double>(a[i])));
  for (int i = 0; i < vocab; ++i)
    ASSERT_LE(std::fabs(static_cast<double>(a[i]) - b[i]), rel * m) << what << ", logit " << i << ": " << a[i]
                                                                     << " vs " << b[i];
}

// Three sequences in one step plan (prefill chunks of different lengths, then decode steps
// of all three together, tables not the identity): per-step logits of both models agree.
void expect_batch_matches(Model& one, Model& tp, int vocab, double rel = kRel) {
  const auto ps = prompts(3, vocab, 5, 11);
  std::vector<StepSequence> seqs(3);
  for (int s = 0; s < 3; ++s) {
    seqs[s].seq_id = s;
    seqs[s].need_logits = true;
    for (int b = 0; b < 6; ++b) seqs[s].block_table.push_back(60 - s * 6 - b);
  }
  std::vector<int32_t> next(3);
  for (int step = 0; step < 7; ++step) {
    StepPlan p;
    for (int s = 0; s < 3; ++s) {
      seqs[s].token_offset = static_cast<int32_t>(p.tokens.size());
      if (step == 0) {
        p.tokens.insert(p.tokens.end(), ps[s].begin(), ps[s].end());
        seqs[s].history_len = 0;
        seqs[s].n_tokens = static_cast<int32_t>(ps[s].size());
      } else {
        p.tokens.push_back(next[s]);
        seqs[s].history_len += seqs[s].n_tokens;
        seqs[s].n_tokens = 1;
      }
    }
    p.seqs = seqs;
    std::vector<float> a(3 * static_cast<size_t>(vocab)), b(a.size(), -1e30f);
    one.forward(p, a.data());
    tp.forward(p, b.data());
    for (int s = 0; s < 3; ++s) {
      expect_row_close(a.data() + s * vocab, b.data() + s * vocab, vocab,
                       "step " + std::to_string(step) + " seq " + std::to_string(s), rel);
      next[s] = static_cast<int32_t>(std::max_element(a.begin() + s * vocab, a.begin() + (s + 1) * vocab) -
                                     (a.begin() + s * vocab));
    }
  }
}

// Greedy continuations of `ps` and the teacher-forced logits of the first prompts.
void expect_greedy_identical(Model& one, Model& tp, const std::vector<std::vector<int32_t>>& ps, int max_new,
                             int teacher_forced, double rel = kRel) {
  const int vocab = one.config().vocab_size;
  for (size_t i = 0; i < ps.size(); ++i) {
    EXPECT_EQ(greedy_generate(one, ps[i], max_new), greedy_generate(tp, ps[i], max_new)) << "prompt " << i;
    if (static_cast<int>(i) < teacher_forced) {
      const auto a = teacher_forced_logits(one, ps[i]);
      const auto b = teacher_forced_logits(tp, ps[i]);
      for (size_t t = 0; t < ps[i].size(); ++t)
        expect_row_close(a.data() + t * vocab, b.data() + t * vocab, vocab,
                         "prompt " + std::to_string(i) + " position " + std::to_string(t), rel);
    }
  }
}

void check_tiny(const TinySpec& spec, int tp, bool exact, KvKind kv, bool with_bo, bool kv_static = false) {
  ModelWeights w = testing::make_tiny_llama(spec);
  if (kv_static) {  // lite kv_qparams' static int8 parameters: every rank must use them
    const float par[4] = {0.04f, 0.1f, 0.03f, -0.1f};
    for (auto& l : w.layers) l.past_kv_scale = make_dense(DType::kF32, {4}, par);
  }
  if (with_bo) {  // InternLM v1's output-projection bias: must be added once, not per rank
    std::mt19937 rng(7);
    for (auto& l : w.layers) l.bo = testing::random_vector(spec.hidden, rng, 0.0f, 0.5f);
  }
  const auto one = create_llama_model(w, options(exact, kv));
  const auto ranks = convert::split_model(w, tp);
  ASSERT_EQ(static_cast<int>(ranks.size()), tp);
  const auto many = create_tp_model(ranks, options(exact, kv));
  EXPECT_EQ(many->config().tensor_para_size, tp);
  EXPECT_EQ(many->kv_layout().block_bytes(), one->kv_layout().block_bytes());  // summed over ranks
  EXPECT_EQ(many->kv_pool_bytes(), one->kv_pool_bytes());
  EXPECT_EQ(many->kv_static(), kv_static);
  EXPECT_EQ(one->kv_static(), kv_static);
  const double rel = tolerance(exact, kv);
  expect_greedy_identical(*one, *many, prompts(20, spec.vocab, 3, 22), 8, 5, rel);
  expect_batch_matches(*one, *many, spec.vocab, rel);
}

TEST(TensorParallel, TinyF32Tp2MatchesTp1) {
  TinySpec s;
  check_tiny(s, 2, /*exact=*/true, KvKind::kF32, false);
  check_tiny(s, 2, /*exact=*/true, KvKind::kF16, false);
  check_tiny(s, 2, /*exact=*/false, KvKind::kF16, false);
}

TEST(TensorParallel, TinyBiasesAndOutputBiasTp2) {
  TinySpec s;
  s.attn_bias = true;
  s.tie = false;
  check_tiny(s, 2, true, KvKind::kF16, /*with_bo=*/true);
}

TEST(TensorParallel, TinyInt4Tp2FastAndExact) {
  TinySpec s;
  s.dtype = DType::kInt4;
  s.inter = 128;  // w2 column split keeps whole groups of 32
  check_tiny(s, 2, true, KvKind::kF32, false);
  check_tiny(s, 2, true, KvKind::kF16, false);
  check_tiny(s, 2, false, KvKind::kF16, false);
}

TEST(TensorParallel, TinyInt8KvTp2AndFourRanks) {
  TinySpec s;
  s.heads = 4;
  s.kv_heads = 4;
  s.inter = 128;
  check_tiny(s, 2, true, KvKind::kInt8, false);
  check_tiny(s, 2, true, KvKind::kInt8, false, /*kv_static=*/true);
  check_tiny(s, 4, true, KvKind::kF16, false);
}

// A communicator that counts its collectives and forwards to a CPU rank.
class CountingComm : public Communicator {
 public:
  CountingComm(std::unique_ptr<Communicator> inner, std::atomic<int>* reduces) : inner_(std::move(inner)), n_(reduces) {}
  int rank() const override { return inner_->rank(); }
  int size() const override { return inner_->size(); }
  void all_reduce_sum(float* data, size_t count) override {
    ++*n_;
    inner_->all_reduce_sum(data, count);
  }
  void barrier() override { inner_->barrier(); }
  void abort() override { inner_->abort(); }
  void reset() override { inner_->reset(); }

 private:
  std::unique_ptr<Communicator> inner_;
  std::atomic<int>* n_;
};

// The seams the CUDA ranks use (tp_model.h): communicators from make_comms, rank r's backend
// from make_rank_backend(r). Two all-reduces per layer per rank per step; same logits as tp 1.
TEST(TensorParallel, InjectedCommunicatorsAndRankBackends) {
  TinySpec s;
  const ModelWeights w = testing::make_tiny_llama(s);
  std::atomic<int> reduces{0};
  std::vector<int> backend_ranks;
  ModelRuntimeOptions o = options(true);
  o.make_comms = [&reduces](int n) {
    std::vector<std::unique_ptr<Communicator>> out;
    for (auto& c : create_cpu_communicators(n)) out.push_back(std::make_unique<CountingComm>(std::move(c), &reduces));
    return out;
  };
  o.make_rank_backend = [&backend_ranks](int r) {
    backend_ranks.push_back(r);
    return create_cpu_backend(CpuBackendOptions{1, true, false});
  };
  const auto one = create_llama_model(w, options(true));
  const auto many = create_tp_model(convert::split_model(w, 2), o);
  EXPECT_EQ(backend_ranks, (std::vector<int>{0, 1}));
  const auto p = prompts(1, s.vocab, 6, 6)[0];
  const auto a = teacher_forced_logits(*one, p);
  const auto b = teacher_forced_logits(*many, p);
  for (size_t t = 0; t < p.size(); ++t)
    expect_row_close(a.data() + t * s.vocab, b.data() + t * s.vocab, s.vocab, "position " + std::to_string(t));
  EXPECT_EQ(reduces.load(), 2 * s.layers * 2 * static_cast<int>(p.size()));  // ranks x layers x (wo, w2) x steps

  // A factory that makes the wrong number of communicators is a clear error.
  ModelRuntimeOptions bad = options(true);
  bad.make_comms = [](int n) { return create_cpu_communicators(n + 1); };
  try {
    create_tp_model(convert::split_model(w, 2), bad);
    FAIL() << "3 communicators for 2 ranks accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("made 3 communicators for 2 ranks"), std::string::npos) << e.what();
  }
}

TEST(TensorParallel, HeadsNotDivisibleIsAClearError) {
  TinySpec s;  // 4 heads, 2 KV heads
  const ModelWeights w = testing::make_tiny_llama(s);
  try {
    convert::split_model(w, 3);
    FAIL() << "split for 3 ranks accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--tp 3: head_num 4 and kv_head_num 2 must both be divisible"),
              std::string::npos)
        << e.what();
  }
  // Weights split for 2 ranks cannot run as one rank (and vice versa).
  const auto ranks = convert::split_model(w, 2);
  try {
    create_llama_model(ranks[0], options(true));
    FAIL() << "rank weights accepted by a one-rank model";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("split for tensor_para_size 2 but the model runs with 1"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(create_tp_model({w, w}, options(true)), Error);
}

TEST(TensorParallel, BadPlanFailsOnEveryRankAndModelStaysUsable) {
  TinySpec s;
  const ModelWeights w = testing::make_tiny_llama(s);
  const auto many = create_tp_model(convert::split_model(w, 2), options(true));
  StepPlan bad;
  bad.tokens = {1, 2};
  StepSequence q;
  q.n_tokens = 2;
  q.need_logits = true;
  q.block_table = {999};
  bad.seqs = {q};
  std::vector<float> logits(s.vocab);
  EXPECT_THROW(many->forward(bad, logits.data()), Error);
  const auto one = create_llama_model(w, options(true));
  const auto p = prompts(1, s.vocab, 6, 6)[0];
  EXPECT_EQ(greedy_generate(*one, p, 5), greedy_generate(*many, p, 5));
  EXPECT_THROW(many->kv_block(0), Error);
}

// A workspace converted for tp 2 loads for tp 1 (re-sharded: its ranks merged) and for
// tp 2 (rank files as written), and the two models agree.
TEST(TensorParallel, WorkspaceReshardedOnLoad) {
  namespace fs = std::filesystem;
  TinySpec s;
  s.tie = false;
  ModelWeights w = testing::make_tiny_llama(s);
  w.config.model_name = "tiny";
  std::string tmpl = (fs::temp_directory_path() / "lmd_tp_XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  const std::string ws = tmpl + "/ws";
  convert::write_workspace_weights(w, ws, 2, false);
  LoadOptions lo;
  const ModelWeights merged = load_model_weights(ws, lo);  // tp 1
  EXPECT_EQ(merged.config.tensor_para_size, 1);
  EXPECT_EQ(merged.layers[1].w2.data, w.layers[1].w2.data);
  lo.tp = 2;
  const auto ranks = load_model_shards(ws, lo);
  ASSERT_EQ(ranks.size(), 2u);
  EXPECT_EQ(ranks[1].layers[0].wq.data, convert::split_model(w, 2)[1].layers[0].wq.data);
  lo.tp = 1;
  EXPECT_EQ(load_model_shards(ws, lo).size(), 1u);
  const auto one = create_llama_model(merged, options(true));
  const auto many = create_tp_model(ranks, options(true));
  expect_greedy_identical(*one, *many, prompts(4, s.vocab, 4, 9), 6, 2);
  fs::remove_all(tmpl);
}

std::string smollm2_path() {
  const char* env = std::getenv("LMD_MODEL_PATH");
  return env && *env ? std::string(env) : default_model_path();
}

// Mean |a - b| over [n, vocab] logits.
double mean_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += std::fabs(static_cast<double>(a[i]) - b[i]);
  return s / static_cast<double>(a.size());
}

// SmolLM2-135M (Q4_1 GGUF, tied embeddings): 9 heads and 3 KV heads split over 3 ranks.
//  exact: fp32 activations and fp32 KV — the only difference from tp 1 is the order of the
//         wo / w2 partial sums, so logits agree within 1e-4 and greedy tokens are identical.
//         (With fp16 KV, ulp-level differences in K/V flip fp16 roundings and the logits
//         drift by ~1.2e-4 of the max: still the same tokens.)
//  fast:  int8 activations (per 32-block) amplify those ulp differences: a value that moves
//         by one ulp can round to another int8 code in the next layer's quantisation, and
//         greedy tokens part after a near tie (3 of 20 prompts within 8 tokens when this
//         was written). Asserted instead: tp 3 is as close to the exact tp 1 logits as fast
//         tp 1 itself is (mean |error| 0.175 vs 0.166), and argmax agrees on >= 90% of
//         positions (58 of 61).
std::vector<std::vector<int32_t>> smollm2_prompts(const Tokenizer& tok) {
  const char* texts[] = {"The capital of France is", "Water boils at", "def fibonacci(n):",
                         "The largest planet in the solar system is", "Once upon a time", "1, 2, 3, 4,",
                         "The opposite of hot is", "My favourite colour is", "Translate to French: cat",
                         "The speed of light is", "import numpy as", "Photosynthesis is the process",
                         "The first president of the United States was", "A haiku about the sea:",
                         "Q: What is 2 + 2?\nA:", "The chemical symbol for gold is", "Monday, Tuesday,",
                         "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n", "In 1492,",
                         "The square root of 81 is"};
  std::vector<std::vector<int32_t>> ps;
  for (const char* t : texts) ps.push_back(tok.encode(t, tok.add_bos_default(), true));
  return ps;
}

void check_smollm2_tp3(bool exact) {
  const std::string path = smollm2_path();
  ASSERT_TRUE(std::ifstream(path).good())
      << "model file " << path << " missing: run tools/fetch_model.sh or set LMD_MODEL_PATH";
  LoadOptions lo;
  lo.tp = 3;
  const auto ranks = load_model_shards(path, lo);
  const ModelWeights w = load_model_weights(path);
  const auto tok = load_tokenizer(path);
  const auto ps = smollm2_prompts(*tok);
  ASSERT_EQ(ps.size(), 20u);
  const KvKind kv = exact ? KvKind::kF32 : KvKind::kF16;
  const auto one = create_llama_model(w, options(exact, kv, 8, 64));
  const auto many = create_tp_model(ranks, options(exact, kv, 8, 64));
  EXPECT_EQ(many->kv_layout().block_bytes(), one->kv_layout().block_bytes());
  if (exact) {
    expect_greedy_identical(*one, *many, ps, 6, 2);
    return;
  }
  const auto oracle = create_llama_model(w, options(true, KvKind::kF32, 8, 64));  // exact tp 1
  const int vocab = one->config().vocab_size;
  double err_one = 0, err_many = 0;
  int agree = 0, total = 0;
  for (size_t i = 0; i < ps.size(); i += 2) {
    const auto ref = teacher_forced_logits(*oracle, ps[i]);
    const auto a = teacher_forced_logits(*one, ps[i]);
    const auto b = teacher_forced_logits(*many, ps[i]);
    err_one += mean_abs_diff(a, ref);
    err_many += mean_abs_diff(b, ref);
    for (size_t t = 0; t < ps[i].size(); ++t) {
      auto arg = [&](const std::vector<float>& x) {
        return std::max_element(x.begin() + t * vocab, x.begin() + (t + 1) * vocab) - (x.begin() + t * vocab);
      };
      agree += arg(a) == arg(b);
      ++total;
    }
  }
  ::testing::Test::RecordProperty("mean_abs_err_fast_tp1_vs_exact", std::to_string(err_one / 10));
  ::testing::Test::RecordProperty("mean_abs_err_fast_tp3_vs_exact", std::to_string(err_many / 10));
  ::testing::Test::RecordProperty("argmax_agree", std::to_string(agree) + "/" + std::to_string(total));
  EXPECT_LE(err_many, 1.5 * err_one) << "fast tp 3 strays further from exact tp 1 than fast tp 1 does";
  EXPECT_GE(agree, 0.9 * total) << "argmax of fast tp 3 vs fast tp 1 agrees on " << agree << "/" << total;
}

TEST(TensorParallel, SmolLM2Tp3ExactMatchesTp1) { check_smollm2_tp3(true); }
TEST(TensorParallel, SmolLM2Tp3FastAsCloseToExactAsTp1) { check_smollm2_tp3(false); }

// The whole engine (scheduler, chunked prefill, concurrent requests) over SmolLM2 with
// --tp 3 (split at load) gives the tokens of --tp 1; the pool has the same blocks.
TEST(TensorParallel, EngineTp3ConcurrentRequestsEqualTp1) {
  const std::string path = smollm2_path();
  ASSERT_TRUE(std::ifstream(path).good())
      << "model file " << path << " missing: run tools/fetch_model.sh or set LMD_MODEL_PATH";
  auto open = [&](int tp) {
    EngineConfig cfg;
    cfg.cache_max_entry_count = 48;  // blocks
    cfg.cache_block_seq_len = 16;
    cfg.session_len = 256;
    cfg.max_batch_size = 4;
    cfg.max_prefill_token_num = 12;  // prompts are prefilled in chunks, beside decoding rows
    cfg.numerics = "exact";
    cfg.threads = 2;
    cfg.tp = tp;
    return Engine::create(path, cfg);
  };
  const std::vector<std::string> questions = {"What is the capital of France?", "Say hello.", "Name a colour."};
  auto run = [&](Engine& e) {
    std::vector<std::shared_ptr<OutputStream>> streams;
    for (const auto& q : questions) {
      Request r;
      r.prompt_ids = e.encode("<|im_start|>user\n" + q + "<|im_end|>\n<|im_start|>assistant\n", true);
      r.gen.temperature = 0.0f;
      r.gen.max_new_tokens = 7;
      streams.push_back(e.submit(r));
    }
    std::vector<std::vector<int32_t>> out;
    for (auto& s : streams) out.push_back(s->collect().token_ids);
    return out;
  };
  std::vector<std::vector<int32_t>> want;
  uint64_t pool_bytes = 0;
  {
    auto one = open(1);
    want = run(*one);
    pool_bytes = one->stats().kv_pool_bytes;
  }
  auto three = open(3);
  EXPECT_EQ(run(*three), want);
  EXPECT_EQ(three->stats().kv_blocks_total, 48);
  EXPECT_EQ(three->stats().kv_pool_bytes, pool_bytes);
}

}  // namespace
}  // namespace lmd
