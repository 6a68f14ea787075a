// Sampling on the device in the engine (EngineConfig::device_sampling, docs/cuda.md), on the
// CUDA backend under the shim, over a tiny random Llama (head dim 64, vocab 1536):
//   * the same batch of requests (greedy, seeded temperature / top-k / top-p / min-p, the
//     penalties, min_new_tokens, ignore_eos, stop ids, one with logprobs, one with top_k
//     beyond the kernel's 1024 candidates) with device sampling on and off on the same
//     backend: identical tokens, finish reasons and logprobs per request; the counters show
//     the device rows, and exactly the logprobs / declined requests' rows on the host;
//   * the greedy requests equal the CPU engine's (the CPU samples everything on the host);
//   * Backend::sample itself: rows not on the device and declined rows are -1, penalty counts
//     of one step do not leak into the next, and bad calls are errors naming the value.
// Every run starts its requests in one step (GatedModel): on the CUDA backend a row's logits
// may depend on how many rows share the step (the GEMV groups 4 or 8 tokens), so the runs
// compared must batch alike.
#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "core/error.h"
#include "engine/text_codec.h"
#include "lmdeploy/engine.h"
#include "engine_greedy.h"
#include "model/llama.h"
#include "tests/unit/model/tiny_llama.h"

namespace lmd {
namespace {

constexpr int kVocab = 1536;

class IdCodec : public TextCodec {
 public:
  explicit IdCodec(int32_t eos) : eos_(eos) {}
  std::vector<int32_t> encode(const std::string&, bool) const override { return {}; }
  std::string decode(const std::vector<int32_t>& ids) const override {
    std::string s;
    for (int32_t t : ids) s += "<" + std::to_string(t) + ">";
    return s;
  }
  int32_t eos_id() const override { return eos_; }
  int32_t token_id(const std::string&) const override { return -1; }

 private:
  int32_t eos_;
};

// Holds the engine's first step until open(): requests submitted meanwhile are admitted
// together in the next step.
class GatedModel : public Model {
 public:
  explicit GatedModel(std::unique_ptr<Model> inner) : inner_(std::move(inner)) {}
  const ModelConfig& config() const override { return inner_->config(); }
  const KvLayout& kv_layout() const override { return inner_->kv_layout(); }
  uint8_t* kv_block(int32_t id) override { return inner_->kv_block(id); }
  int32_t kv_num_blocks() const override { return inner_->kv_num_blocks(); }
  bool enable_device_sampling(int max_rows) override { return inner_->enable_device_sampling(max_rows); }
  void forward(const StepPlan& plan, float* logits) override {
    gate();
    inner_->forward(plan, logits);
  }
  void forward_sample(const StepPlan& plan, float* logits, SamplingBatch* sampling) override {
    gate();
    inner_->forward_sample(plan, logits, sampling);
  }
  void wait_entered() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return entered_; });
  }
  void open() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }

 private:
  void gate() {
    std::unique_lock<std::mutex> lock(mu_);
    entered_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
  }
  std::unique_ptr<Model> inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool entered_ = false, open_ = false;
};

// Head dim 64 (the CUDA attention kernel's), untied lm head scaled so the logits spread
// about 3 (a temperature-1 draw is far from the arg-max, top-p 0.9 keeps tens of tokens).
const ModelWeights& tiny_weights() {
  static const ModelWeights w = [] {
    testing::TinySpec spec;
    spec.hidden = 256;
    spec.heads = 4;
    spec.kv_heads = 2;
    spec.inter = 192;
    spec.vocab = kVocab;
    spec.layers = 2;
    spec.tie = false;
    spec.seed = 7;
    ModelWeights m = testing::make_tiny_llama(spec);
    std::vector<float> out = m.output.to_f32();
    for (float& x : out) x *= 3.0f;
    m.output = make_dense(DType::kF32, {kVocab, spec.hidden}, out.data());
    return m;
  }();
  return w;
}

struct EngineRun {
  std::vector<GenerationOutput> outs;
  EngineStats stats;
};

// One engine (CUDA backend under the shim, or the CPU), a one-token warm-up request, then
// `reqs` admitted together.
EngineRun run_engine(bool cuda, bool device_sampling, int32_t eos, const std::vector<Request>& reqs) {
  ModelRuntimeOptions o;
  o.threads = 1;
  o.exact = true;
  o.block_len = 16;
  o.kv_num_blocks = 64;
  if (cuda) o.make_backend = [] { return create_cuda_backend(); };
  auto gated = std::make_unique<GatedModel>(create_llama_model(tiny_weights(), o));
  GatedModel* gate = gated.get();
  EngineConfig cfg;
  cfg.session_len = 64;
  cfg.max_batch_size = 24;
  cfg.device_sampling = device_sampling;
  auto engine = Engine::create(std::move(gated), std::make_unique<IdCodec>(eos), cfg);
  Request warm;
  warm.prompt_ids = {1, 2};
  warm.gen.max_new_tokens = 1;
  warm.gen.temperature = 0.0f;
  auto warm_stream = engine->submit(warm);
  gate->wait_entered();
  std::vector<std::shared_ptr<OutputStream>> streams;
  for (const Request& r : reqs) streams.push_back(engine->submit(r));
  gate->open();
  EXPECT_EQ(warm_stream->collect().finish_reason, "length");
  EngineRun out;
  for (auto& s : streams) out.outs.push_back(s->collect());
  out.stats = test::settled_stats(*engine, static_cast<int64_t>(reqs.size()) + 1);
  return out;
}

std::vector<int32_t> prompt(uint32_t seed, int n) {
  std::mt19937 rng(seed);
  std::vector<int32_t> p(n);
  for (int32_t& t : p) t = static_cast<int32_t>(rng() % kVocab);
  return p;
}

Request greedy_request(std::vector<int32_t> ids, int max_new) {
  Request r;
  r.prompt_ids = std::move(ids);
  r.gen.max_new_tokens = max_new;
  r.gen.temperature = 0.0f;
  return r;
}

Request sampled_request(std::vector<int32_t> ids, uint64_t seed, float temperature, int top_k, float top_p,
                        float min_p) {
  Request r;
  r.prompt_ids = std::move(ids);
  r.gen.max_new_tokens = 8;
  r.gen.seed = seed;
  r.gen.temperature = temperature;
  r.gen.top_k = top_k;
  r.gen.top_p = top_p;
  r.gen.min_p = min_p;
  return r;
}

TEST(CudaEngineSampling, DeviceAndHostSamplingGiveTheSameTokens) {
  // Greedy continuations on the CPU (eos off) choose the ids the bans must bite on: eos is
  // the first greedy token of prompt A, the stop id the second of prompt B.
  const std::vector<int32_t> pa = prompt(11, 6), pb = prompt(12, 5), pc = prompt(13, 4);
  std::vector<Request> probe = {greedy_request(pa, 3), greedy_request(pb, 3), greedy_request(pc, 4)};
  for (Request& r : probe) r.gen.ignore_eos = true;
  const EngineRun pre = run_engine(false, true, 0, probe);
  ASSERT_EQ(pre.outs[0].token_ids.size(), 3u);
  ASSERT_EQ(pre.outs[1].token_ids.size(), 3u);
  ASSERT_EQ(pre.outs[2].token_ids.size(), 4u);
  const int32_t eos = pre.outs[0].token_ids[0];
  const int32_t stop_id = pre.outs[1].token_ids[1];
  ASSERT_NE(pre.outs[1].token_ids[0], stop_id) << "pick other prompts: B's first token is its stop id";

  std::vector<Request> reqs;
  std::vector<bool> greedy;  // compared with the CPU engine too
  auto add = [&](Request r, bool is_greedy) {
    reqs.push_back(std::move(r));
    greedy.push_back(is_greedy);
    return reqs.size() - 1;
  };
  add(greedy_request(prompt(21, 5), 8), true);
  Request k1 = sampled_request(prompt(22, 6), 101, 1.0f, 1, 1.0f, 0.0f);  // top_k 1 = greedy
  add(k1, true);
  const size_t drawn = add(sampled_request(prompt(23, 5), 102, 1.0f, 0, 1.0f, 0.0f), false);  // token order
  const size_t drawn_greedy = add(greedy_request(prompt(23, 5), 8), true);
  add(sampled_request(prompt(24, 7), 103, 0.8f, 40, 1.0f, 0.0f), false);   // top-k
  add(sampled_request(prompt(25, 5), 104, 1.0f, 0, 0.7f, 0.0f), false);    // top-p
  add(sampled_request(prompt(26, 6), 105, 1.2f, 0, 1.0f, 0.1f), false);    // min-p
  add(sampled_request(prompt(27, 5), 106, 0.9f, 50, 0.9f, 0.05f), false);  // all three
  Request pen = sampled_request(prompt(28, 6), 107, 1.0f, 50, 1.0f, 0.0f);
  pen.prompt_ids.insert(pen.prompt_ids.end(), {5, 5, 9});
  pen.gen.repetition_penalty = 1.3f;
  pen.gen.presence_penalty = 0.5f;
  pen.gen.frequency_penalty = 0.4f;
  add(pen, false);
  Request pen2 = sampled_request(prompt(29, 5), 108, 0.7f, 0, 1.0f, 0.0f);
  pen2.gen.repetition_penalty = 0.8f;  // < 1 raises seen tokens
  pen2.gen.frequency_penalty = -0.3f;
  add(pen2, false);
  // Greedy after C's own greedy continuation: the penalties push those tokens down.
  std::vector<int32_t> pc_hist = pc;
  pc_hist.insert(pc_hist.end(), pre.outs[2].token_ids.begin(), pre.outs[2].token_ids.end());
  Request rep = greedy_request(pc_hist, 6);
  rep.gen.repetition_penalty = 3.0f;
  rep.gen.frequency_penalty = 2.0f;
  const size_t penalised = add(rep, true);
  const size_t unpenalised = add(greedy_request(pc_hist, 6), true);
  Request ign = greedy_request(pa, 4);
  ign.gen.ignore_eos = true;
  const size_t ignore_eos = add(ign, true);
  Request minn = greedy_request(pa, 4);
  minn.gen.min_new_tokens = 2;
  minn.gen.stop_token_ids = {stop_id};
  const size_t min_new = add(minn, true);
  Request stops = greedy_request(pb, 6);
  stops.gen.stop_token_ids = {stop_id};
  const size_t stopped = add(stops, true);
  Request lp = sampled_request(prompt(30, 5), 109, 1.0f, 20, 1.0f, 0.0f);
  lp.gen.logprobs = true;
  lp.gen.top_logprobs = 2;
  const size_t logprobs = add(lp, false);
  const size_t declined = add(sampled_request(prompt(31, 6), 110, 1.0f, 1100, 1.0f, 0.0f), false);  // > 1024
  Request seeded_min = sampled_request(prompt(32, 5), 111, 1.0f, 10, 1.0f, 0.0f);
  seeded_min.gen.min_new_tokens = 3;
  seeded_min.gen.stop_token_ids = {stop_id, eos};
  add(seeded_min, false);

  const EngineRun on = run_engine(true, true, eos, reqs);
  const EngineRun off = run_engine(true, false, eos, reqs);
  const EngineRun cpu = run_engine(false, true, eos, reqs);
  int64_t rows = 1, cpu_rows = 1;  // the warm-up token
  for (size_t i = 0; i < reqs.size(); ++i) {
    SCOPED_TRACE("request " + std::to_string(i));
    const GenerationOutput &a = on.outs[i], &b = off.outs[i];
    ASSERT_TRUE(a.finish_reason == "length" || a.finish_reason == "stop") << a.finish_reason << " " << a.error;
    EXPECT_FALSE(a.token_ids.empty());
    EXPECT_EQ(a.token_ids, b.token_ids);
    EXPECT_EQ(a.finish_reason, b.finish_reason);
    EXPECT_EQ(a.usage.completion_tokens, b.usage.completion_tokens);
    rows += a.usage.completion_tokens;
    cpu_rows += cpu.outs[i].usage.completion_tokens;
    if (greedy[i]) {
      EXPECT_EQ(a.token_ids, cpu.outs[i].token_ids) << "greedy differs from the CPU engine";
    }
  }
  // The draws really sample, the penalties and bans really bite.
  EXPECT_NE(on.outs[drawn].token_ids, on.outs[drawn_greedy].token_ids);
  EXPECT_NE(on.outs[penalised].token_ids, on.outs[unpenalised].token_ids);
  EXPECT_NE(on.outs[ignore_eos].token_ids[0], eos);
  EXPECT_EQ(on.outs[ignore_eos].finish_reason, "length");
  EXPECT_NE(on.outs[min_new].token_ids[0], eos);
  EXPECT_EQ(on.outs[stopped].token_ids, std::vector<int32_t>{pre.outs[1].token_ids[0]});
  EXPECT_EQ(on.outs[stopped].finish_reason, "stop");
  // Logprobs come from the host path on both runs: the same logits bits, the same values.
  ASSERT_EQ(on.outs[logprobs].logprobs.size(), on.outs[logprobs].token_ids.size());
  ASSERT_EQ(off.outs[logprobs].logprobs.size(), on.outs[logprobs].logprobs.size());
  for (size_t t = 0; t < on.outs[logprobs].logprobs.size(); ++t) {
    const TokenLogprob &x = on.outs[logprobs].logprobs[t], &y = off.outs[logprobs].logprobs[t];
    EXPECT_EQ(x.logprob, y.logprob);
    ASSERT_EQ(x.top.size(), 2u);
    EXPECT_EQ(x.top, y.top);
  }

  const int64_t host_rows = on.outs[logprobs].usage.completion_tokens + on.outs[declined].usage.completion_tokens;
  EXPECT_EQ(on.stats.sampled_on_host, host_rows) << "only the logprobs and top_k > 1024 rows go to the host";
  EXPECT_EQ(on.stats.sampled_on_device, rows - host_rows);
  EXPECT_GT(on.stats.sampled_on_device, 50);
  EXPECT_EQ(off.stats.sampled_on_device, 0);
  EXPECT_EQ(off.stats.sampled_on_host, rows);
  EXPECT_EQ(cpu.stats.sampled_on_device, 0) << "the CPU backend has no device sampler";
  EXPECT_EQ(cpu.stats.sampled_on_host, cpu_rows);
}

// A CUDA backend (the shim's device) with device logits [rows, vocab].
struct BackendSample {
  std::unique_ptr<Backend> be = create_cuda_backend();
  float* logits = nullptr;
  int rows = 0, vocab = 0;
  BackendSample(int rows_, int vocab_) : rows(rows_), vocab(vocab_) {
    logits = static_cast<float*>(be->alloc(sizeof(float) * rows * vocab));
  }
  ~BackendSample() { be->free(logits); }
  void set(const std::vector<float>& host) { be->copy_to_device(logits, host.data(), sizeof(float) * host.size()); }
};

SamplingParams greedy_params(float repetition) {
  SamplingParams p;
  p.temperature = 0.0f;
  p.repetition_penalty = repetition;
  return p;
}

// Appends a device row with `seen` counts (and no bans / generated counts).
void add_row(SamplingBatch* b, bool on_device, SamplingParams p, std::vector<TokenCount> seen, double u = 0.0) {
  b->on_device.push_back(on_device ? 1 : 0);
  b->params.push_back(p);
  b->uniform.push_back(u);
  b->ban_offsets.push_back(static_cast<int32_t>(b->bans.size()));
  b->seen.insert(b->seen.end(), seen.begin(), seen.end());
  b->seen_offsets.push_back(static_cast<int32_t>(b->seen.size()));
  b->generated_offsets.push_back(static_cast<int32_t>(b->generated.size()));
}

TEST(CudaEngineSampling, BackendSampleRowsAndCountsDoNotLeak) {
  const int vocab = 2048;
  BackendSample s(3, vocab);
  ASSERT_TRUE(s.be->supports_sampling());
  std::vector<float> host(3 * vocab);
  for (int b = 0; b < 3; ++b)
    for (int t = 0; t < vocab; ++t) host[b * vocab + t] = static_cast<float>((t * 7 + b * 13) % vocab) * 0.1f;
  s.set(host);
  auto argmax = [&](int b) {
    return static_cast<int32_t>(std::max_element(host.begin() + b * vocab, host.begin() + (b + 1) * vocab) -
                                (host.begin() + b * vocab));
  };
  s.be->reserve_sampling(3, vocab);
  // Step 1: row 0's arg-max is seen (penalised 5x: another token wins), row 1 on the host,
  // row 2 a top_k beyond the kernel's candidates (declined).
  SamplingBatch b1;
  add_row(&b1, true, greedy_params(5.0f), {{argmax(0), 1}});
  add_row(&b1, false, greedy_params(1.0f), {});
  SamplingParams big;
  big.top_k = 1100;
  add_row(&b1, true, big, {}, 0.5);
  s.be->sample(s.logits, vocab, &b1);
  ASSERT_EQ(b1.tokens.size(), 3u);
  EXPECT_NE(b1.tokens[0], argmax(0));
  EXPECT_GE(b1.tokens[0], 0);
  EXPECT_EQ(b1.tokens[1], -1) << "a row not on the device";
  EXPECT_EQ(b1.tokens[2], -1) << "top_k 1100 of 2048 candidates: more than the kernel sorts";
  // Step 2: the same penalty, nothing seen: the count of step 1 must be gone.
  SamplingBatch b2;
  add_row(&b2, true, greedy_params(5.0f), {});
  s.be->sample(s.logits, vocab, &b2);
  EXPECT_EQ(b2.tokens, std::vector<int32_t>{argmax(0)});
}

TEST(CudaEngineSampling, BackendSampleBadCallsAreErrors) {
  const int vocab = 32;
  BackendSample s(3, vocab);
  SamplingBatch one;
  add_row(&one, true, greedy_params(1.0f), {});
  auto message = [&](const std::function<void()>& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message([&] { s.be->sample(s.logits, vocab, &one); }).find("reserve_sampling"), std::string::npos);
  s.be->reserve_sampling(2, vocab);
  SamplingBatch three;
  for (int i = 0; i < 3; ++i) add_row(&three, true, greedy_params(1.0f), {});
  EXPECT_NE(message([&] { s.be->sample(s.logits, vocab, &three); }).find("3 rows"), std::string::npos);
  EXPECT_NE(message([&] { s.be->sample(s.logits, vocab + 1, &one); }).find("vocab 33"), std::string::npos);
  std::vector<float> host(vocab);
  EXPECT_NE(message([&] { s.be->sample(host.data(), vocab, &one); }).find("device memory"), std::string::npos);
  SamplingBatch bad = one;
  bad.ban_offsets = {0, 2};
  EXPECT_NE(message([&] { s.be->sample(s.logits, vocab, &bad); }).find("ban offsets"), std::string::npos);
  bad = one;
  bad.uniform[0] = 1.0;
  EXPECT_NE(message([&] { s.be->sample(s.logits, vocab, &bad); }).find("uniform 1"), std::string::npos);
  EXPECT_NE(message([] { create_cpu_backend({})->reserve_sampling(1, 8); }).find("does not sample"),
            std::string::npos);
}

}  // namespace
}  // namespace lmd
