// A randomised scheduler test: >= 1000 random submits / cancels / session ends on a KV
// pool small enough to force preemption. Every request must finish (or be cancelled)
// with exactly the greedy oracle's tokens (a prefix of them when cancelled), and at the
// end no block may be left active.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <thread>
#include <map>
#include <random>

#include "lmdeploy/engine.h"
#include "mock_model.h"

namespace lmd::test {
namespace {

struct InFlight {
  std::shared_ptr<OutputStream> stream;
  std::vector<int32_t> context;  // whole history the answer continues
  int max_new = 0;
  int64_t session = -1;          // -1: one-shot
};

struct SessionState {
  std::vector<int32_t> history;
  bool busy = false;
};

void run_random_ops(bool prefix_caching, uint32_t seed) {
  auto model = std::make_unique<MockModel>(/*num_blocks=*/40, /*block_len=*/8, /*session_len=*/4096,
                                           /*max_batch_size=*/16);
  EngineConfig cfg;
  cfg.max_prefill_token_num = 48;
  cfg.enable_prefix_caching = prefix_caching;
  auto engine = Engine::create(std::move(model), std::make_unique<MockCodec>(), cfg);

  std::mt19937 rng(seed);
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  // A few shared prefixes so the prefix cache gets hits.
  std::vector<std::vector<int32_t>> prefixes;
  for (int i = 0; i < 4; ++i) {
    std::vector<int32_t> p(uni(8, 24));
    for (auto& t : p) t = uni(2, kMockVocab - 1);
    prefixes.push_back(p);
  }
  auto make_prompt = [&](int max_len) {
    std::vector<int32_t> p;
    if (uni(0, 1)) p = prefixes[uni(0, 3)];
    const int extra = uni(1, max_len);
    for (int i = 0; i < extra; ++i) p.push_back(uni(2, kMockVocab - 1));
    return p;
  };

  std::deque<InFlight> inflight;
  std::map<int64_t, SessionState> sessions;
  int finished = 0, cancelled = 0;

  auto check = [&](InFlight& f) {
    GenerationOutput out = f.stream->collect();
    bool stopped = false;
    const auto expected = mock_greedy(f.context, f.max_new, &stopped);
    ASSERT_NE(out.finish_reason, "error") << out.error;
    if (out.finish_reason == "cancelled") {
      ++cancelled;
      ASSERT_LE(out.token_ids.size(), expected.size());
      EXPECT_TRUE(std::equal(out.token_ids.begin(), out.token_ids.end(), expected.begin()));
    } else {
      ++finished;
      EXPECT_EQ(out.token_ids, expected);
      EXPECT_EQ(out.finish_reason, stopped ? "stop" : "length");
    }
    if (f.session >= 0) {
      SessionState& s = sessions[f.session];
      s.busy = false;
      s.history = f.context;
      s.history.insert(s.history.end(), out.token_ids.begin(), out.token_ids.end());
      if (out.finish_reason == "stop") s.history.push_back(kMockEos);
    }
  };

  for (int op = 0; op < 1200; ++op) {
    const int kind = uni(0, 99);
    if (kind < 50) {  // one-shot request
      InFlight f;
      f.context = make_prompt(60);
      f.max_new = uni(1, 40);
      Request r;
      r.prompt_ids = f.context;
      r.gen.temperature = 0.0f;
      r.gen.max_new_tokens = f.max_new;
      f.stream = engine->submit(r);
      inflight.push_back(std::move(f));
    } else if (kind < 72) {  // a session turn
      const int64_t sid = uni(1, 6);
      SessionState& s = sessions[sid];
      if (s.busy) continue;
      if (s.history.size() > 150) {
        engine->end_session(sid);
        s.history.clear();
      }
      InFlight f;
      f.session = sid;
      auto prompt = make_prompt(30);
      Request r;
      r.session_id = sid;
      r.sequence_start = s.history.empty();
      r.sequence_end = false;
      r.prompt_ids = prompt;
      r.gen.temperature = 0.0f;
      r.gen.max_new_tokens = f.max_new = uni(1, 30);
      f.context = s.history;
      f.context.insert(f.context.end(), prompt.begin(), prompt.end());
      s.busy = true;
      f.stream = engine->submit(r);
      inflight.push_back(std::move(f));
    } else if (kind < 85) {  // cancel something in flight
      if (!inflight.empty()) inflight[uni(0, static_cast<int>(inflight.size()) - 1)].stream->cancel();
    } else if (kind < 92) {  // end a session, busy or not
      const int64_t sid = uni(1, 6);
      engine->end_session(sid);
      // A turn in flight is cancelled (or finishes first); either way the session is gone.
      for (auto it = inflight.begin(); it != inflight.end();) {
        if (it->session == sid) {
          check(*it);
          it = inflight.erase(it);
        } else {
          ++it;
        }
      }
      sessions[sid] = SessionState{};
    } else if (!inflight.empty()) {  // drain the oldest
      check(inflight.front());
      inflight.pop_front();
    }
    while (inflight.size() > 24) {
      check(inflight.front());
      inflight.pop_front();
    }
    if (::testing::Test::HasFatalFailure()) return;
  }
  while (!inflight.empty()) {
    check(inflight.front());
    inflight.pop_front();
  }
  for (int64_t sid = 1; sid <= 6; ++sid) engine->end_session(sid);

  EngineStats s;
  for (int i = 0; i < 500; ++i) {
    s = engine->stats();
    if (s.sessions == 0 && s.running == 0 && s.waiting == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(s.sessions, 0);
  EXPECT_EQ(s.running, 0);
  EXPECT_EQ(s.waiting, 0);
  EXPECT_EQ(s.kv_blocks_active, 0);
  EXPECT_EQ(s.kv_blocks_free + s.kv_blocks_cached, s.kv_blocks_total);
  if (!prefix_caching) {
    EXPECT_EQ(s.kv_blocks_free, s.kv_blocks_total);  // nothing worth keeping
  }
  EXPECT_GT(s.preemptions, 0) << "the pool was meant to be small enough to preempt";
  EXPECT_GT(finished, 500);
  EXPECT_GT(cancelled, 0);
  if (prefix_caching) {
    EXPECT_GT(s.prefix_hit_tokens, 0);
  }
}

TEST(SchedulerRandomTest, ThousandOpsSmallPool) { run_random_ops(false, 12345); }
TEST(SchedulerRandomTest, ThousandOpsSmallPoolPrefixCaching) { run_random_ops(true, 777); }

}  // namespace
}  // namespace lmd::test
