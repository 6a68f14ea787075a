// The Scheduler alone, on a real BlockManager + SequenceManager and no model: each test
// plays the engine's part (commit the step's KV, append a sampled token, end requests) and
// asserts the exact plans and decisions. Blocks come off the free stack lowest id first.
#include "engine/scheduler.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace lmd {
namespace {

// "id=1 off=0 n=4 hist=0 logits=1 table=[0,2]": one line per plan entry.
std::vector<std::string> describe(const StepPlan& plan) {
  std::vector<std::string> out;
  for (const StepSequence& s : plan.seqs) {
    std::string line = "id=" + std::to_string(s.seq_id) + " off=" + std::to_string(s.token_offset) +
                       " n=" + std::to_string(s.n_tokens) + " hist=" + std::to_string(s.history_len) +
                       " logits=" + std::to_string(s.need_logits) + " table=[";
    for (size_t i = 0; i < s.block_table.size(); ++i) line += (i ? "," : "") + std::to_string(s.block_table[i]);
    out.push_back(line + "]");
  }
  return out;
}

std::vector<int32_t> iota(int n, int32_t first) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) v[i] = first + i;
  return v;
}

std::vector<uint64_t> arrivals(const std::vector<SchedulerEntry>& q) {
  std::vector<uint64_t> out;
  for (const auto& e : q) out.push_back(e.arrival);
  return out;
}
std::vector<uint64_t> arrivals(const std::deque<SchedulerEntry>& q) {
  return arrivals(std::vector<SchedulerEntry>(q.begin(), q.end()));
}

// A pool of `num_blocks` blocks of `block_len` tokens and a scheduler over it; sequences are
// named by their arrival number (also their session id).
struct Harness {
  Harness(int num_blocks, int block_len, SchedulerConfig cfg, bool prefix_caching = false)
      : bm(num_blocks, 1), sm(bm, block_len, prefix_caching), sched(sm, cfg) {}

  Sequence& submit(uint64_t arrival, std::vector<int32_t> prompt) {
    Sequence& s = seqs[arrival];
    s.session_id = static_cast<int64_t>(arrival);
    s.tokens = std::move(prompt);
    sched.add_waiting(arrival, &s);
    return s;
  }
  // The engine after the forward: KV of the planned tokens is written; a sequence that got
  // logits samples token 1000 + its length.
  void commit(const StepDecisions& d) {
    for (size_t i = 0; i < d.plan.seqs.size(); ++i) {
      const StepSequence& ss = d.plan.seqs[i];
      Sequence& s = seqs.at(d.planned[i]);
      sm.commit(s, ss.history_len + ss.n_tokens);
      if (ss.need_logits) s.tokens.push_back(1000 + static_cast<int32_t>(s.tokens.size()));
    }
  }
  StepDecisions step() {
    StepDecisions d = sched.schedule();
    commit(d);
    return d;
  }
  // The request ends; `keep_session` keeps its KV cached for a next turn.
  void finish(uint64_t arrival, bool keep_session = false) {
    sched.remove(arrival);
    if (keep_session) {
      sm.unlock(seqs.at(arrival));
    } else {
      sm.drop(seqs.at(arrival));
    }
  }

  BlockManager bm;
  SequenceManager sm;
  Scheduler sched;
  std::map<uint64_t, Sequence> seqs;
};

SchedulerConfig config(int max_batch_size, int max_prefill, int max_prefill_decoding = 0) {
  SchedulerConfig c;
  c.max_batch_size = max_batch_size;
  c.max_prefill_token_num = max_prefill;
  c.max_prefill_token_num_decoding = max_prefill_decoding;
  return c;
}

TEST(SchedulerTest, AdmitsOldestFirstUpToMaxBatchSize) {
  Harness h(16, 4, config(/*max_batch_size=*/2, 100));
  h.submit(3, iota(5, 300));
  h.submit(1, iota(4, 100));
  h.submit(2, iota(3, 200));
  EXPECT_EQ(arrivals(h.sched.waiting()), (std::vector<uint64_t>{1, 2, 3}));

  StepDecisions d = h.step();
  EXPECT_EQ(d.prefill_budget, 100);
  EXPECT_EQ(describe(d.plan), (std::vector<std::string>{"id=1 off=0 n=4 hist=0 logits=1 table=[0]",
                                                          "id=2 off=4 n=3 hist=0 logits=1 table=[1]"}));
  EXPECT_EQ(d.plan.tokens, (std::vector<int32_t>{100, 101, 102, 103, 200, 201, 202}));
  EXPECT_EQ(d.planned, (std::vector<uint64_t>{1, 2}));
  ASSERT_EQ(d.admitted.size(), 2u);
  EXPECT_EQ(d.admitted[0].arrival, 1u);
  EXPECT_FALSE(d.admitted[0].resumed);
  EXPECT_EQ(d.admitted[1].arrival, 2u);
  EXPECT_TRUE(d.preempted.empty());
  EXPECT_TRUE(d.failed.empty());
  EXPECT_EQ(arrivals(h.sched.running()), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(arrivals(h.sched.waiting()), (std::vector<uint64_t>{3}));

  // The batch is full: 3 waits while 1 and 2 decode (1 crosses into a second block).
  d = h.step();
  EXPECT_EQ(describe(d.plan), (std::vector<std::string>{"id=1 off=0 n=1 hist=4 logits=1 table=[0,2]",
                                                          "id=2 off=1 n=1 hist=3 logits=1 table=[1]"}));
  EXPECT_EQ(d.plan.tokens, (std::vector<int32_t>{1004, 1003}));
  EXPECT_TRUE(d.admitted.empty());

  // 1 ends: 3 is admitted, after the decoding row of 2.
  h.finish(1);
  d = h.step();
  EXPECT_EQ(describe(d.plan), (std::vector<std::string>{"id=2 off=0 n=1 hist=4 logits=1 table=[1,2]",
                                                          "id=3 off=1 n=5 hist=0 logits=1 table=[0,3]"}));
  EXPECT_EQ(d.planned, (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(arrivals(h.sched.running()), (std::vector<uint64_t>{2, 3}));
  EXPECT_TRUE(h.sched.waiting().empty());
}

TEST(SchedulerTest, LongPromptIsChunkedByThePrefillBudget) {
  Harness h(16, 4, config(4, /*max_prefill=*/8));
  h.submit(1, iota(20, 0));
  StepDecisions d = h.step();
  EXPECT_EQ(d.prefill_budget, 8);
  EXPECT_EQ(describe(d.plan), (std::vector<std::string>{"id=1 off=0 n=8 hist=0 logits=0 table=[0,1]"}));
  EXPECT_EQ(d.plan.tokens, iota(8, 0));
  EXPECT_EQ(d.plan.num_logit_rows(), 0);
  d = h.step();
  EXPECT_EQ(describe(d.plan), (std::vector<std::string>{"id=1 off=0 n=8 hist=8 logits=0 table=[0,1,2,3]"}));
  EXPECT_EQ(d.plan.tokens, iota(8, 8));
  d = h.step();
  EXPECT_EQ(describe(d.plan), (std::vector<std::string>{"id=1 off=0 n=4 hist=16 logits=1 table=[0,1,2,3,4]"}));
  EXPECT_EQ(d.plan.tokens, iota(4, 16));
  d = h.step();  // then it decodes
  EXPECT_EQ(describe(d.plan), (std::vector<std::string>{"id=1 off=0 n=1 hist=20 logits=1 table=[0,1,2,3,4,5]"}));
}

TEST(SchedulerTest, DecodingRowsCapThePrefillBudget) {
  for (int cap : {0, 4}) {
    SCOPED_TRACE("max_prefill_token_num_decoding " + std::to_string(cap));
    Harness h(16, 4, config(4, /*max_prefill=*/16, cap));
    h.submit(1, iota(3, 0));
    StepDecisions d = h.step();
    EXPECT_EQ(d.prefill_budget, 16);  // nothing decodes yet
    h.submit(2, iota(10, 100));
    d = h.step();
    if (cap == 0) {
      EXPECT_EQ(d.prefill_budget, 16);
      EXPECT_EQ(describe(d.plan), (std::vector<std::string>{"id=1 off=0 n=1 hist=3 logits=1 table=[0]",
                                                              "id=2 off=1 n=10 hist=0 logits=1 table=[1,2,3]"}));
      continue;
    }
    EXPECT_EQ(d.prefill_budget, 4);
    EXPECT_EQ(describe(d.plan), (std::vector<std::string>{"id=1 off=0 n=1 hist=3 logits=1 table=[0]",
                                                            "id=2 off=1 n=4 hist=0 logits=0 table=[1]"}));
    d = h.step();
    EXPECT_EQ(describe(d.plan), (std::vector<std::string>{"id=1 off=0 n=1 hist=4 logits=1 table=[0,2]",
                                                            "id=2 off=1 n=4 hist=4 logits=0 table=[1,3]"}));
    d = h.step();
    EXPECT_EQ(describe(d.plan), (std::vector<std::string>{"id=1 off=0 n=1 hist=5 logits=1 table=[0,2]",
                                                            "id=2 off=1 n=2 hist=8 logits=1 table=[1,3,4]"}));
  }
}

TEST(SchedulerTest, DecodeRowsAreNeverStarvedAndASpentBudgetHoldsAdmission) {
  Harness h(32, 4, config(4, /*max_prefill=*/4));
  h.submit(1, iota(2, 0));
  h.step();  // 1 prefilled: it decodes from now on
  h.submit(2, iota(10, 100));
  h.submit(3, iota(6, 200));
  // 2 takes the whole budget: 3 is not admitted, 1 decodes every step regardless.
  const std::vector<std::vector<std::string>> want = {
      {"id=1 off=0 n=1 hist=2 logits=1 table=[0]", "id=2 off=1 n=4 hist=0 logits=0 table=[1]"},
      {"id=1 off=0 n=1 hist=3 logits=1 table=[0]", "id=2 off=1 n=4 hist=4 logits=0 table=[1,2]"},
  };
  for (size_t i = 0; i < want.size(); ++i) {
    const StepDecisions d = h.step();
    EXPECT_EQ(describe(d.plan), want[i]) << "step " << i;
    EXPECT_EQ(arrivals(h.sched.waiting()), (std::vector<uint64_t>{3})) << "step " << i;
  }
  // 2's last 2 prompt tokens leave 2 of the budget: 3 is admitted with a 2-token chunk.
  StepDecisions d = h.step();
  EXPECT_EQ(describe(d.plan), (std::vector<std::string>{"id=1 off=0 n=1 hist=4 logits=1 table=[0,3]",
                                                          "id=2 off=1 n=2 hist=8 logits=1 table=[1,2,4]",
                                                          "id=3 off=3 n=2 hist=0 logits=0 table=[5]"}));
  EXPECT_TRUE(h.sched.waiting().empty());
  // Two decode rows (free) and 3's last 4 tokens.
  d = h.step();
  EXPECT_EQ(describe(d.plan), (std::vector<std::string>{"id=1 off=0 n=1 hist=5 logits=1 table=[0,3]",
                                                          "id=2 off=1 n=1 hist=10 logits=1 table=[1,2,4]",
                                                          "id=3 off=2 n=4 hist=2 logits=1 table=[5,6]"}));
}

TEST(SchedulerTest, RunningPrefillSitsOutWhenTheBudgetIsSpent) {
  Harness h(32, 4, config(4, /*max_prefill=*/6));
  h.submit(1, iota(4, 0));
  h.submit(2, iota(9, 100));
  StepDecisions d = h.step();  // 1 whole, 2 the 2 tokens left
  EXPECT_EQ(describe(d.plan), (std::vector<std::string>{"id=1 off=0 n=4 hist=0 logits=1 table=[0]",
                                                          "id=2 off=4 n=2 hist=0 logits=0 table=[1]"}));
  h.submit(3, iota(12, 200));
  d = h.step();  // 1 decodes for free, 2 takes the budget, 3 waits
  EXPECT_EQ(describe(d.plan), (std::vector<std::string>{"id=1 off=0 n=1 hist=4 logits=1 table=[0,2]",
                                                          "id=2 off=1 n=6 hist=2 logits=0 table=[1,3]"}));
  EXPECT_EQ(arrivals(h.sched.waiting()), (std::vector<uint64_t>{3}));
}

TEST(SchedulerTest, PreemptsTheYoungestForAnOlderSequence) {
  Harness h(4, 4, config(4, 100));
  h.submit(1, iota(7, 0));
  h.submit(2, iota(7, 100));
  StepDecisions d = h.step();
  EXPECT_EQ(describe(d.plan), (std::vector<std::string>{"id=1 off=0 n=7 hist=0 logits=1 table=[0,1]",
                                                          "id=2 off=7 n=7 hist=0 logits=1 table=[2,3]"}));
  d = h.step();  // position 7: both still fit their 2 blocks
  EXPECT_EQ(d.plan.seqs.size(), 2u);
  EXPECT_TRUE(d.preempted.empty());

  // Position 8 needs a third block; the pool is full: 2 (the youngest) makes room for 1,
  // whose new block is the least recently released of 2's (block 2). 2 cannot come back
  // this step (its block 2 is gone, block 3 alone is not enough).
  d = h.step();
  EXPECT_EQ(describe(d.plan), (std::vector<std::string>{"id=1 off=0 n=1 hist=8 logits=1 table=[0,1,2]"}));
  ASSERT_EQ(d.preempted.size(), 1u);
  EXPECT_EQ(d.preempted[0].arrival, 2u);
  EXPECT_EQ(d.preempted[0].for_arrival, 1u);
  EXPECT_EQ(d.preempted[0].blocks_released, 2);
  EXPECT_TRUE(d.admitted.empty());
  EXPECT_TRUE(d.failed.empty());
  EXPECT_EQ(arrivals(h.sched.running()), (std::vector<uint64_t>{1}));
  EXPECT_EQ(arrivals(h.sched.waiting()), (std::vector<uint64_t>{2}));
  const Sequence& two = h.seqs.at(2);
  EXPECT_EQ(two.kv_len, 0);  // its surviving block 3 was useless after the lost block 2
  EXPECT_TRUE(two.blocks.empty());
  EXPECT_EQ(h.bm.counts().active, 3);
  EXPECT_EQ(h.bm.counts().free, 1);

  // 1 ends: 2 is readmitted and recomputes its 9 tokens (prompt and both sampled ones).
  h.finish(1);
  d = h.step();
  EXPECT_EQ(describe(d.plan), (std::vector<std::string>{"id=2 off=0 n=9 hist=0 logits=1 table=[2,1,0]"}));
  ASSERT_EQ(d.admitted.size(), 1u);
  EXPECT_EQ(d.admitted[0].arrival, 2u);
  EXPECT_FALSE(d.admitted[0].resumed);
}

TEST(SchedulerTest, YoungestThatDoesNotFitPreemptsItself) {
  Harness h(3, 4, config(4, 100));
  h.submit(1, iota(4, 0));
  h.submit(2, iota(4, 100));
  h.step();  // blocks 0 and 1; block 2 free
  // Both need a second block: 1 takes the last one, 2 is the youngest and yields.
  StepDecisions d = h.step();
  EXPECT_EQ(describe(d.plan), (std::vector<std::string>{"id=1 off=0 n=1 hist=4 logits=1 table=[0,2]"}));
  ASSERT_EQ(d.preempted.size(), 1u);
  EXPECT_EQ(d.preempted[0].arrival, 2u);
  EXPECT_EQ(d.preempted[0].for_arrival, 2u);
  EXPECT_EQ(d.preempted[0].blocks_released, 1);
  EXPECT_TRUE(d.admitted.empty());  // readmission was tried and did not fit either
  EXPECT_EQ(arrivals(h.sched.waiting()), (std::vector<uint64_t>{2}));
  EXPECT_EQ(h.bm.counts().cached, 1);  // 2's block waits for it, CACHED

  h.finish(1);  // blocks 0 and 2 go FREE (2 on top of the stack)
  d = h.step();  // 2 takes back its cached block and computes only the sampled token
  EXPECT_EQ(describe(d.plan), (std::vector<std::string>{"id=2 off=0 n=1 hist=4 logits=1 table=[1,2]"}));
  ASSERT_EQ(d.admitted.size(), 1u);
  EXPECT_TRUE(d.admitted[0].resumed);
  EXPECT_EQ(d.admitted[0].kv_len_at_lock, 4);
}

TEST(SchedulerTest, ASequenceAloneThatOutgrowsThePoolFails) {
  Harness h(2, 4, config(4, 100));
  h.submit(1, iota(7, 0));
  h.step();
  StepDecisions d = h.step();  // position 7: the last slot
  EXPECT_EQ(describe(d.plan), (std::vector<std::string>{"id=1 off=0 n=1 hist=7 logits=1 table=[0,1]"}));
  d = h.sched.schedule();  // position 8: no third block, nobody to preempt
  EXPECT_TRUE(d.plan.seqs.empty());
  EXPECT_TRUE(d.preempted.empty());
  ASSERT_EQ(d.failed.size(), 1u);
  EXPECT_EQ(d.failed[0].arrival, 1u);
  EXPECT_EQ(d.failed[0].message,
            "KV cache too small: session 1 needs 3 blocks of 4 tokens, the pool has 2 (raise "
            "cache_max_entry_count or lower session_len)");
  EXPECT_TRUE(h.sched.empty());
  EXPECT_EQ(h.bm.counts().free, 2);  // its KV was dropped
  EXPECT_TRUE(h.sched.schedule().plan.seqs.empty());  // nothing left to do: the engine idles
}

TEST(SchedulerTest, APromptLargerThanThePoolFailsAndTheNextOneRuns) {
  Harness h(2, 4, config(4, 100));
  h.submit(1, iota(12, 0));
  h.submit(2, iota(3, 100));
  const StepDecisions d = h.sched.schedule();
  ASSERT_EQ(d.failed.size(), 1u);
  EXPECT_EQ(d.failed[0].arrival, 1u);
  EXPECT_EQ(d.failed[0].message, "KV cache too small: 12 tokens need 3 blocks, the pool has 2");
  EXPECT_EQ(describe(d.plan), (std::vector<std::string>{"id=2 off=0 n=3 hist=0 logits=1 table=[0]"}));
  EXPECT_EQ(arrivals(h.sched.running()), (std::vector<uint64_t>{2}));
  EXPECT_TRUE(h.sched.waiting().empty());
}

TEST(SchedulerTest, AResumedSessionTakesBackItsHistory) {
  Harness h(16, 4, config(4, 100));
  Sequence& s = h.submit(1, iota(6, 0));
  h.step();            // the prompt; samples token 1006
  h.finish(1, true);   // the turn ends, the session stays: KV of 6 tokens cached
  EXPECT_EQ(h.bm.counts().cached, 2);

  s.tokens.insert(s.tokens.end(), {50, 51, 52});  // the next turn's prompt
  h.sched.add_waiting(2, &s);
  const StepDecisions d = h.sched.schedule();
  ASSERT_EQ(d.admitted.size(), 1u);
  EXPECT_EQ(d.admitted[0].arrival, 2u);
  EXPECT_TRUE(d.admitted[0].resumed);
  EXPECT_EQ(d.admitted[0].kv_len_at_lock, 6);
  // Only the sampled token and the new prompt are computed, on top of the same blocks.
  EXPECT_EQ(describe(d.plan), (std::vector<std::string>{"id=1 off=0 n=4 hist=6 logits=1 table=[0,1,2]"}));
  EXPECT_EQ(d.plan.tokens, (std::vector<int32_t>{1006, 50, 51, 52}));
}

TEST(SchedulerTest, AFreshSequenceStartsFromASharedPrefix) {
  Harness h(16, 4, config(4, 100), /*prefix_caching=*/true);
  h.submit(1, iota(9, 0));
  h.step();
  h.finish(1);  // its two full blocks stay indexed (CACHED), the partial block 2 goes FREE
  std::vector<int32_t> prompt = iota(8, 0);
  prompt.push_back(77);
  prompt.push_back(78);
  h.submit(2, prompt);
  const StepDecisions d = h.sched.schedule();
  ASSERT_EQ(d.admitted.size(), 1u);
  EXPECT_FALSE(d.admitted[0].resumed);
  EXPECT_EQ(d.admitted[0].kv_len_at_lock, 8);
  EXPECT_EQ(describe(d.plan), (std::vector<std::string>{"id=2 off=0 n=2 hist=8 logits=1 table=[0,1,2]"}));
  EXPECT_EQ(d.plan.tokens, (std::vector<int32_t>{77, 78}));
}

}  // namespace
}  // namespace lmd
