// CpuCommGroup: all-reduce against a sequential sum (bit-exact on integer-valued floats,
// and in rank order on random floats), determinism across runs, barrier, abort.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "comm/cpu_communicator.h"
#include "core/error.h"

namespace lmd {
namespace {

// Runs fn(rank) on `n` threads (rank 0 on a thread too) and joins them.
void on_ranks(int n, const std::function<void(int)>& fn) {
  std::vector<std::thread> t;
  for (int r = 0; r < n; ++r) t.emplace_back(fn, r);
  for (auto& x : t) x.join();
}

std::vector<std::vector<float>> random_inputs(int ranks, size_t count, uint32_t seed, bool integers) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> real(-1000.0f, 1000.0f);
  std::uniform_int_distribution<int> whole(-100000, 100000);
  std::vector<std::vector<float>> in(ranks, std::vector<float>(count));
  for (auto& v : in)
    for (float& x : v) x = integers ? static_cast<float>(whole(rng)) : real(rng) * std::exp2(real(rng) / 100.0f);
  return in;
}

// The oracle: a plain loop, rank 0 first.
std::vector<float> sequential_sum(const std::vector<std::vector<float>>& in) {
  std::vector<float> s = in[0];
  for (size_t r = 1; r < in.size(); ++r)
    for (size_t i = 0; i < s.size(); ++i) s[i] += in[r][i];
  return s;
}

std::vector<std::vector<float>> all_reduce(const std::vector<std::vector<float>>& in) {
  const int n = static_cast<int>(in.size());
  CpuCommGroup group(n);
  std::vector<std::vector<float>> io = in;
  on_ranks(n, [&](int r) { group.rank(r).all_reduce_sum(io[r].data(), io[r].size()); });
  return io;
}

bool bit_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

const size_t kSizes[] = {0, 1, 2, 15, 16, 17, 31, 100, 576, 1000, 4097, 65536 + 3, 1 << 20};

TEST(CpuCommunicator, IntegerValuedSumIsExactForAllSizesAndRanks) {
  for (int ranks : {1, 2, 3, 4}) {
    for (size_t count : kSizes) {
      const auto in = random_inputs(ranks, count, static_cast<uint32_t>(count * 7 + ranks), true);
      const std::vector<float> want = sequential_sum(in);
      const auto got = all_reduce(in);
      for (int r = 0; r < ranks; ++r)
        ASSERT_TRUE(bit_equal(got[r], want)) << ranks << " ranks, " << count << " elements, rank " << r;
    }
  }
}

TEST(CpuCommunicator, RandomFloatsSumInRankOrderOnEveryRank) {
  for (int ranks : {2, 3, 4}) {
    for (size_t count : {size_t{17}, size_t{576}, size_t{4097}, size_t{1} << 18}) {
      const auto in = random_inputs(ranks, count, static_cast<uint32_t>(count + 11 * ranks), false);
      const std::vector<float> want = sequential_sum(in);
      const auto got = all_reduce(in);
      for (int r = 0; r < ranks; ++r)
        ASSERT_TRUE(bit_equal(got[r], want)) << ranks << " ranks, " << count << " elements, rank " << r;
    }
  }
}

// The order matters on these inputs (float addition is not associative), so a timing-
// dependent order would show up as a different bit pattern in some run.
TEST(CpuCommunicator, DeterministicAcrossHundredRunsOneGroup) {
  const int ranks = 4;
  const size_t count = 3001;
  const auto in = random_inputs(ranks, count, 42, false);
  const std::vector<float> want = sequential_sum(in);
  std::vector<float> reordered = in[3];
  for (int r = 2; r >= 0; --r)
    for (size_t i = 0; i < count; ++i) reordered[i] += in[r][i];
  ASSERT_FALSE(bit_equal(reordered, want)) << "inputs do not distinguish summation orders";
  CpuCommGroup group(ranks);
  std::atomic<int> mismatches{0};
  on_ranks(ranks, [&](int r) {
    std::vector<float> buf;
    for (int run = 0; run < 100; ++run) {
      buf = in[r];
      if ((run + r) % 3 == 0) std::this_thread::yield();  // vary arrival order
      group.rank(r).all_reduce_sum(buf.data(), buf.size());
      if (!bit_equal(buf, want)) ++mismatches;
    }
  });
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(CpuCommunicator, RankAndSize) {
  CpuCommGroup group(3);
  EXPECT_EQ(group.rank(2).rank(), 2);
  EXPECT_EQ(group.rank(0).size(), 3);
  EXPECT_THROW(group.rank(3), Error);
  EXPECT_THROW(CpuCommGroup(0), Error);
}

TEST(CpuCommunicator, BarrierSeparatesPhases) {
  for (int ranks : {1, 2, 3, 4}) {
    CpuCommGroup group(ranks);
    std::atomic<int> phase_count{0};
    std::atomic<int> errors{0};
    on_ranks(ranks, [&](int r) {
      for (int round = 1; round <= 50; ++round) {
        ++phase_count;
        group.rank(r).barrier();
        // Every rank has incremented for this round before any passes the barrier.
        if (phase_count.load() < round * ranks) ++errors;
        group.rank(r).barrier();
      }
    });
    EXPECT_EQ(errors.load(), 0) << ranks << " ranks";
    EXPECT_EQ(phase_count.load(), 50 * ranks);
  }
}

TEST(CpuCommunicator, MismatchedCountsThrowOnEveryRank) {
  CpuCommGroup group(2);
  std::atomic<int> threw{0};
  on_ranks(2, [&](int r) {
    std::vector<float> buf(10 + r, 1.0f);
    try {
      group.rank(r).all_reduce_sum(buf.data(), buf.size());
    } catch (const Error& e) {
      if (std::string(e.what()).find("rank 1 passed 11 elements, rank 0 passed 10") != std::string::npos) ++threw;
    }
  });
  EXPECT_EQ(threw.load(), 2);
}

TEST(CpuCommunicator, AbortWakesWaitingRankThenResetRearms) {
  CpuCommGroup group(2);
  std::atomic<bool> threw{false};
  std::thread waiter([&] {
    try {
      group.rank(1).barrier();
    } catch (const Error&) {
      threw = true;
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let it go to sleep (if not, abort is seen on entry)
  group.abort();
  waiter.join();
  EXPECT_TRUE(threw.load());
  group.reset();
  std::vector<std::vector<float>> io = {{1, 2, 3}, {10, 20, 30}};
  on_ranks(2, [&](int r) { group.rank(r).all_reduce_sum(io[r].data(), 3); });
  EXPECT_EQ(io[0], (std::vector<float>{11, 22, 33}));
  EXPECT_EQ(io[1], io[0]);
}

}  // namespace
}  // namespace lmd
