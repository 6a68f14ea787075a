// CpuCommGroup under ThreadSanitizer (a binary of its own, built with -fsanitize=thread from
// this file and src/comm/*.cc only; tools/run_tests.sh runs it). Exercises every path that
// shares memory between rank threads: publishing buffers, the sliced sums written into other
// ranks' buffers, back-to-back collectives, barriers, abort and reset. Exit status 1 on a
// wrong sum; TSan itself exits 66 on a data race.
#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

#include "comm/cpu_communicator.h"
#include "core/error.h"

namespace {

int failures = 0;

void expect(bool ok, const char* what, int ranks, size_t count) {
  if (ok) return;
  std::fprintf(stderr, "FAIL: %s (%d ranks, %zu elements)\n", what, ranks, count);
  ++failures;
}

void all_reduce_rounds(int ranks, size_t count, int rounds) {
  lmd::CpuCommGroup group(ranks);
  std::atomic<int> wrong{0};
  std::vector<std::thread> t;
  for (int r = 0; r < ranks; ++r) {
    t.emplace_back([&, r] {
      std::vector<float> buf(count);
      for (int round = 0; round < rounds; ++round) {
        for (size_t i = 0; i < count; ++i) buf[i] = static_cast<float>((r + 1) * (round + 1) + static_cast<int>(i % 7));
        group.rank(r).all_reduce_sum(buf.data(), count);
        // sum over ranks of (r + 1)(round + 1) + i % 7
        const float base = static_cast<float>(ranks * (ranks + 1) / 2 * (round + 1));
        for (size_t i = 0; i < count; ++i)
          if (buf[i] != base + static_cast<float>(ranks * static_cast<int>(i % 7))) ++wrong;
        if (round % 5 == 0) group.rank(r).barrier();
      }
    });
  }
  for (auto& x : t) x.join();
  expect(wrong.load() == 0, "all_reduce_sum result", ranks, count);
}

void abort_then_reset() {
  lmd::CpuCommGroup group(3);
  std::atomic<int> threw{0};
  std::vector<std::thread> t;
  for (int r = 1; r < 3; ++r) {
    t.emplace_back([&, r] {
      try {
        group.rank(r).barrier();
      } catch (const lmd::Error&) {
        ++threw;
      }
    });
  }
  group.abort();  // rank 0 "failed": the waiting ranks must leave with an error
  for (auto& x : t) x.join();
  expect(threw.load() == 2, "abort wakes waiting ranks", 3, 0);
  group.reset();
  all_reduce_rounds(3, 33, 3);
}

}  // namespace

int main() {
  for (int ranks : {2, 3, 4})
    for (size_t count : {size_t{1}, size_t{17}, size_t{576}, size_t{5000}}) all_reduce_rounds(ranks, count, 20);
  abort_then_reset();
  if (failures == 0) std::printf("comm_tsan_test: ok\n");
  return failures == 0 ? 0 : 1;
}
