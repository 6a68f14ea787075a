// The engine over the mock model (tests/unit/engine/mock_model.h): batching invariance,
// seeded sampling, sessions, prefix caching, bad input, stop strings, cancellation.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <random>
#include <thread>

#include "lmdeploy/engine.h"
#include "mock_model.h"

namespace lmd::test {
namespace {

struct MockSetup {
  int num_blocks = 256;
  int block_len = 16;
  int max_prefill = 8192;
  int max_batch = 64;
  int session_len = 4096;
  bool prefix_caching = false;
  std::vector<int32_t> script;
  std::vector<std::string> pieces;
};

std::unique_ptr<Engine> make_engine(const MockSetup& s) {
  auto model = std::make_unique<MockModel>(s.num_blocks, s.block_len, s.session_len, s.max_batch);
  if (!s.script.empty()) model->set_script(s.script);
  EngineConfig cfg;
  cfg.max_prefill_token_num = s.max_prefill;
  cfg.enable_prefix_caching = s.prefix_caching;
  return Engine::create(std::move(model), std::make_unique<MockCodec>(s.pieces), cfg);
}

std::vector<int32_t> random_prompt(std::mt19937& rng, int min_len, int max_len) {
  std::uniform_int_distribution<int> len(min_len, max_len), tok(2, kMockVocab - 1);
  std::vector<int32_t> p(len(rng));
  for (auto& t : p) t = tok(rng);
  return p;
}

Request greedy_request(std::vector<int32_t> prompt, int max_new) {
  Request r;
  r.prompt_ids = std::move(prompt);
  r.gen.temperature = 0.0f;
  r.gen.max_new_tokens = max_new;
  return r;
}

// Waits until the engine thread published a state where `pred` holds (stats are
// published after each step), failing after a few seconds instead of hanging.
template <typename Pred>
EngineStats wait_stats(const Engine& e, Pred pred) {
  for (int i = 0; i < 500; ++i) {
    EngineStats s = e.stats();
    if (pred(s)) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ADD_FAILURE() << "engine stats never reached the expected state";
  return e.stats();
}

TEST(EngineTest, GreedyMatchesOracle) {
  auto engine = make_engine({});
  std::mt19937 rng(1);
  for (int i = 0; i < 5; ++i) {
    auto prompt = random_prompt(rng, 3, 40);
    bool stopped = false;
    auto expected = mock_greedy(prompt, 30, &stopped);
    auto out = engine->submit(greedy_request(prompt, 30))->collect();
    EXPECT_EQ(out.token_ids, expected);
    EXPECT_EQ(out.finish_reason, stopped ? "stop" : "length");
    EXPECT_EQ(out.usage.prompt_tokens, static_cast<int>(prompt.size()));
    EXPECT_EQ(out.usage.completion_tokens, static_cast<int>(expected.size()) + (stopped ? 1 : 0));
  }
}

// 32 prompts alone vs together (staggered arrivals, chunked prefill of 24 tokens per
// step, blocks of 16) give identical greedy tokens.
TEST(EngineTest, BatchingInvarianceGreedy) {
  std::mt19937 rng(7);
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < 32; ++i) prompts.push_back(random_prompt(rng, 1, 120));
  MockSetup s;
  s.max_prefill = 24;
  std::vector<std::vector<int32_t>> alone;
  {
    auto engine = make_engine(s);
    for (const auto& p : prompts) alone.push_back(engine->submit(greedy_request(p, 40))->collect().token_ids);
  }
  auto engine = make_engine(s);
  std::vector<std::shared_ptr<OutputStream>> streams;
  for (size_t i = 0; i < prompts.size(); ++i) {
    streams.push_back(engine->submit(greedy_request(prompts[i], 40)));
    if (i % 4 == 3) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  int64_t max_running = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    auto out = streams[i]->collect();
    EXPECT_EQ(out.token_ids, alone[i]) << "prompt " << i;
    EXPECT_EQ(out.token_ids, mock_greedy(prompts[i], 40)) << "prompt " << i;
  }
  (void)max_running;
  EXPECT_GT(engine->stats().steps, 0);
}

// A long prompt arriving while another request decodes is prefilled in chunks of
// max_prefill_token_num_decoding beside the decoding row (the decoder is never stalled by
// a long step); with the cap off (0) it goes in one step of max_prefill_token_num.
TEST(EngineTest, LongPromptDoesNotStallDecoding) {
  for (const int cap : {100, 0}) {
    auto model = std::make_unique<MockModel>(512, 16, 8192);
    model->set_script({5, 6, 7});  // never eos: the decoder runs to max_new_tokens
    MockModel* mock = model.get();
    EngineConfig cfg;
    cfg.max_prefill_token_num = 4096;
    cfg.max_prefill_token_num_decoding = cap;
    auto engine = Engine::create(std::move(model), std::make_unique<MockCodec>(), cfg);
    auto decoder = engine->submit(greedy_request({2, 3, 4}, 3000));
    wait_stats(*engine, [](const EngineStats& st) { return st.steps >= 3; });
    std::mt19937 rng(3);
    const auto prompt = random_prompt(rng, 1500, 1500);
    auto out = engine->submit(greedy_request(prompt, 4))->collect();
    const auto dec = decoder->collect();
    EXPECT_EQ(out.token_ids.size(), 4u);
    EXPECT_EQ(dec.token_ids.size(), 3000u);
    int max_prefill_beside_decode = 0, prefill_steps = 0;
    for (const auto& st : mock->step_shapes()) {
      if (st.decode_rows > 0) max_prefill_beside_decode = std::max(max_prefill_beside_decode, st.prefill_tokens);
      if (st.prefill_tokens > 0) ++prefill_steps;
    }
    if (cap > 0) {
      EXPECT_EQ(max_prefill_beside_decode, cap);
      EXPECT_GE(prefill_steps, 1500 / cap);
    } else {
      EXPECT_EQ(max_prefill_beside_decode, 1500);
    }
  }
}

TEST(EngineTest, SeededSamplingIsBatchInvariant) {
  std::mt19937 rng(3);
  auto prompt = random_prompt(rng, 10, 30);
  Request seeded;
  seeded.prompt_ids = prompt;
  seeded.gen.temperature = 1.0f;
  seeded.gen.top_k = 20;
  seeded.gen.top_p = 0.95f;
  seeded.gen.seed = 1234;
  seeded.gen.max_new_tokens = 30;
  seeded.gen.ignore_eos = true;
  auto engine = make_engine({});
  auto alone = engine->submit(seeded)->collect().token_ids;
  ASSERT_EQ(alone.size(), 30u);
  std::vector<std::shared_ptr<OutputStream>> others;
  for (int i = 0; i < 31; ++i) {
    Request o = seeded;
    o.prompt_ids = random_prompt(rng, 1, 60);
    o.gen.seed.reset();
    others.push_back(engine->submit(o));
    if (i == 15) others.push_back(engine->submit(seeded));
  }
  auto in_batch = others[16]->collect().token_ids;
  for (auto& o : others) o->collect();
  EXPECT_EQ(in_batch, alone);
  // A different seed gives a different sequence (30 tokens from a 20-way choice).
  seeded.gen.seed = 99;
  EXPECT_NE(engine->submit(seeded)->collect().token_ids, alone);
}

TEST(EngineTest, SecondTurnPrefillsOnlyNewTokens) {
  auto engine = make_engine({});
  std::mt19937 rng(5);
  auto p1 = random_prompt(rng, 30, 30);
  auto p2 = random_prompt(rng, 5, 5);
  Request t1 = greedy_request(p1, 10);
  t1.session_id = 7;
  t1.gen.ignore_eos = true;
  t1.sequence_end = false;
  auto o1 = engine->submit(t1)->collect();
  ASSERT_EQ(o1.token_ids.size(), 10u);
  const EngineStats before = wait_stats(*engine, [](const EngineStats& s) { return s.running == 0; });
  EXPECT_EQ(before.sessions, 1);

  Request t2 = greedy_request(p2, 8);
  t2.session_id = 7;
  t2.sequence_start = false;
  t2.gen.ignore_eos = true;
  t2.sequence_end = false;
  auto o2 = engine->submit(t2)->collect();
  std::vector<int32_t> history = p1;
  history.insert(history.end(), o1.token_ids.begin(), o1.token_ids.end());
  history.insert(history.end(), p2.begin(), p2.end());
  std::vector<int32_t> expected;
  {
    // ignore_eos: greedy over everything but eos.
    std::vector<int32_t> h = history;
    float logits[kMockVocab];
    for (int i = 0; i < 8; ++i) {
      mock_logits(h, logits);
      logits[kMockEos] = -1e30f;
      int best = static_cast<int>(std::max_element(logits, logits + kMockVocab) - logits);
      expected.push_back(best);
      h.push_back(best);
    }
  }
  EXPECT_EQ(o2.token_ids, expected);
  const EngineStats after = wait_stats(*engine, [](const EngineStats& s) { return s.running == 0; });
  // New prompt tokens + the last answer token (it had no KV yet).
  EXPECT_EQ(after.prefill_tokens - before.prefill_tokens, 5 + 1);
  EXPECT_EQ(after.session_reused_tokens - before.session_reused_tokens, 30 + 10 - 1);

  engine->end_session(7);
  const EngineStats ended = wait_stats(*engine, [](const EngineStats& s) { return s.sessions == 0; });
  EXPECT_EQ(ended.kv_blocks_active, 0);
  EXPECT_EQ(ended.kv_blocks_free, ended.kv_blocks_total);
}

TEST(EngineTest, PrefixCachingReusesFullBlocks) {
  MockSetup s;
  s.block_len = 8;
  s.prefix_caching = true;
  auto engine = make_engine(s);
  std::mt19937 rng(11);
  auto shared = random_prompt(rng, 40, 40);  // 5 full blocks
  auto a = shared, b = shared;
  auto ta = random_prompt(rng, 3, 3), tb = random_prompt(rng, 6, 6);
  a.insert(a.end(), ta.begin(), ta.end());
  b.insert(b.end(), tb.begin(), tb.end());
  EXPECT_EQ(engine->submit(greedy_request(a, 10))->collect().token_ids, mock_greedy(a, 10));
  const EngineStats s1 = engine->stats();
  EXPECT_EQ(engine->submit(greedy_request(b, 10))->collect().token_ids, mock_greedy(b, 10));
  const EngineStats s2 = wait_stats(*engine, [&](const EngineStats& st) { return st.requests_finished == 2; });
  EXPECT_EQ(s2.prefix_hit_tokens - s1.prefix_hit_tokens, 40);
  EXPECT_EQ(s2.prefill_tokens - s1.prefill_tokens, static_cast<int64_t>(b.size()) - 40);
  EXPECT_GT(s2.prefix_hit_rate(), 0.0);
  // A prompt that is exactly the shared blocks still recomputes its last token.
  const EngineStats s3 = engine->stats();
  EXPECT_EQ(engine->submit(greedy_request(shared, 5))->collect().token_ids, mock_greedy(shared, 5));
  const EngineStats s4 = wait_stats(*engine, [&](const EngineStats& st) { return st.requests_finished == 3; });
  EXPECT_EQ(s4.prefix_hit_tokens - s3.prefix_hit_tokens, 32);
}

TEST(EngineTest, PromptLongerThanSessionLenFails) {
  MockSetup s;
  s.session_len = 64;
  auto engine = make_engine(s);
  std::mt19937 rng(2);
  auto out = engine->submit(greedy_request(random_prompt(rng, 64, 64), 5))->collect();
  EXPECT_EQ(out.finish_reason, "error");
  EXPECT_NE(out.error.find("session_len 64"), std::string::npos) << out.error;
  // Generation stops at session_len with "length".
  Request r = greedy_request(random_prompt(rng, 60, 60), 50);
  r.gen.ignore_eos = true;
  auto o2 = engine->submit(r)->collect();
  EXPECT_EQ(o2.finish_reason, "length");
  EXPECT_EQ(o2.token_ids.size(), 4u);
}

TEST(EngineTest, InvalidSamplingValuesFail) {
  auto engine = make_engine({});
  struct Case {
    const char* field;
    std::function<void(GenerationConfig&)> set;
  };
  std::vector<Case> cases = {
      {"top_p", [](GenerationConfig& g) { g.top_p = 1.5f; }},
      {"top_p", [](GenerationConfig& g) { g.top_p = 0.0f; }},
      {"temperature", [](GenerationConfig& g) { g.temperature = -0.1f; }},
      {"top_k", [](GenerationConfig& g) { g.top_k = -1; }},
      {"min_p", [](GenerationConfig& g) { g.min_p = 2.0f; }},
      {"max_new_tokens", [](GenerationConfig& g) { g.max_new_tokens = -3; }},
  };
  for (const auto& c : cases) {
    Request r = greedy_request({5, 6, 7}, 5);
    c.set(r.gen);
    auto out = engine->submit(r)->collect();
    EXPECT_EQ(out.finish_reason, "error") << c.field;
    EXPECT_NE(out.error.find(c.field), std::string::npos) << out.error;
  }
  auto bad_id = engine->submit(greedy_request({5, 9999}, 5))->collect();
  EXPECT_EQ(bad_id.finish_reason, "error");
  EXPECT_NE(bad_id.error.find("9999"), std::string::npos);
  EXPECT_EQ(engine->submit(greedy_request({}, 5))->collect().finish_reason, "error");
  // Still serving.
  EXPECT_EQ(engine->submit(greedy_request({5, 6, 7}, 5))->collect().token_ids, mock_greedy({5, 6, 7}, 5));
}

TEST(EngineTest, PoolTooSmallForOneSequenceFails) {
  MockSetup s;
  s.num_blocks = 2;
  s.block_len = 4;
  auto engine = make_engine(s);
  Request r = greedy_request({5, 6, 7}, 20);
  r.gen.ignore_eos = true;
  auto out = engine->submit(r)->collect();
  EXPECT_EQ(out.finish_reason, "error");
  EXPECT_NE(out.error.find("KV cache too small"), std::string::npos) << out.error;
  // 8 positions hold 3 prompt + 5 generated tokens; the 6th generated token needs none yet.
  EXPECT_EQ(out.token_ids.size(), 6u);
  auto big = engine->submit(greedy_request(std::vector<int32_t>(20, 5), 2))->collect();
  EXPECT_EQ(big.finish_reason, "error");
}

// Pieces "Hel" "lo" " wor" "ld" "ST" "O" "P!" "x": the stop string "STOP" spans three
// tokens; "ST" and "O" are held back, the text ends before "STOP".
TEST(EngineTest, StopStringAcrossTokens) {
  MockSetup s;
  s.pieces = {"", "", "Hel", "lo", " wor", "ld", "ST", "O", "P!", "x"};
  // Prompt of 1 token at position 0; the answer starts at position 1.
  s.script = {9, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 9};
  auto engine = make_engine(s);
  Request r = greedy_request({9}, 20);
  r.gen.stop_strings = {"STOP"};
  auto stream = engine->submit(r);
  std::vector<std::string> chunks;
  GenerationOutput last;
  while (auto c = stream->next()) {
    chunks.push_back(c->text);
    last = *c;
  }
  std::string all;
  for (const auto& c : chunks) {
    EXPECT_EQ(c.find("ST"), std::string::npos) << "held-back text leaked: '" << c << "'";
    all += c;
  }
  EXPECT_EQ(all, "Hello world");
  EXPECT_EQ(last.finish_reason, "stop");
  // Without the stop string the whole text comes out, including the partial "ST".
  r.gen.stop_strings = {"STOX"};
  r.gen.max_new_tokens = 6;
  auto out = engine->submit(r)->collect();
  EXPECT_EQ(out.text, "Hello worldSTO");
  EXPECT_EQ(out.finish_reason, "length");
}

TEST(EngineTest, StopTokenIdsAndMinNewTokens) {
  MockSetup s;
  s.script = {3, 3, 4, 5, 6, 6, 6, 6};  // after prompt {3}: 3 4 5 6 6 ...
  auto engine = make_engine(s);
  Request r = greedy_request({3}, 20);
  r.gen.stop_token_ids = {5};
  auto out = engine->submit(r)->collect();
  EXPECT_EQ(out.token_ids, (std::vector<int32_t>{3, 4}));
  EXPECT_EQ(out.finish_reason, "stop");
  EXPECT_EQ(out.usage.completion_tokens, 3);  // the stop token counts, is not output
  // min_new_tokens bans the stop token while fewer tokens were generated.
  r.gen.min_new_tokens = 3;
  r.gen.max_new_tokens = 4;
  auto out2 = engine->submit(r)->collect();
  ASSERT_EQ(out2.token_ids.size(), 4u);
  EXPECT_NE(out2.token_ids[2], 5);
  EXPECT_EQ(out2.finish_reason, "length");
}

TEST(EngineTest, CancelReturnsBlocks) {
  auto engine = make_engine({});
  Request r = greedy_request({5, 6, 7}, 100000);
  r.gen.ignore_eos = true;
  auto stream = engine->submit(r);
  ASSERT_TRUE(stream->next().has_value());
  stream->cancel();
  auto rest = stream->collect();
  EXPECT_EQ(rest.finish_reason, "cancelled");
  const EngineStats s = wait_stats(*engine, [](const EngineStats& st) { return st.running == 0; });
  EXPECT_EQ(s.kv_blocks_active, 0);
}

TEST(EngineTest, LogprobsAndTopLogprobs) {
  auto engine = make_engine({});
  Request r = greedy_request({5, 6, 7}, 3);
  r.gen.ignore_eos = true;
  r.gen.logprobs = true;
  r.gen.top_logprobs = 3;
  auto out = engine->submit(r)->collect();
  ASSERT_EQ(out.logprobs.size(), 3u);
  std::vector<int32_t> h = {5, 6, 7};
  float logits[kMockVocab];
  mock_logits(h, logits);
  double z = 0;
  float mx = *std::max_element(logits, logits + kMockVocab);
  for (float l : logits) z += std::exp(static_cast<double>(l - mx));
  const double expected = logits[out.token_ids[0]] - mx - std::log(z);
  EXPECT_NEAR(out.logprobs[0].logprob, expected, 1e-5);
  ASSERT_EQ(out.logprobs[0].top.size(), 3u);
  EXPECT_EQ(out.logprobs[0].top[0].first, out.token_ids[0]);  // greedy = most likely
  EXPECT_GE(out.logprobs[0].top[1].second, out.logprobs[0].top[2].second);
}

}  // namespace
}  // namespace lmd::test
