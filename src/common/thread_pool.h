// One team of threads for the CPU kernels, created once. A 135M model's ops take
// microseconds, so dispatch cost dominates, and on a shared machine a worker may be
// descheduled for milliseconds: work is therefore handed out as chunks that whoever is
// running claims (an atomic counter), the caller (thread 0) claims chunks too, and a
// worker that wakes up late finds nothing left and never delays the caller. The caller
// only waits for chunks that were actually claimed. Idle workers spin briefly, then
// yield, then sleep on a condition variable. No allocation per call.
//
//   pool.for_each(n_chunks, [&](int64_t chunk, int tid) { ... });   // tid < size(), for scratch
//
// run() is the classic team mode: fn(tid, nt) runs once on each thread (tid 0 = caller),
// and inside it every thread may call barrier() (all the same number of times). A team
// waits for its slowest member, so hot paths use for_each. Neither call is re-entrant.
//
//   pool.run([&](int tid, int nt) { auto [b, e] = ThreadPool::split(rows, tid, nt); ... });
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace lmd {

class ThreadPool {
 public:
  // n_threads counts the caller; 0 = std::thread::hardware_concurrency().
  explicit ThreadPool(int n_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // fn(chunk, tid) for every chunk in [0, n_chunks), claimed dynamically (n_chunks < 2^22).
  template <typename F>
  void for_each(int64_t n_chunks, F&& fn) {
    using Fn = std::remove_reference_t<F>;
    for_each_impl(n_chunks, [](void* ctx, int64_t c, int tid) { (*static_cast<Fn*>(ctx))(c, tid); },
                  const_cast<void*>(static_cast<const void*>(&fn)));
  }

  // fn(tid, size()) on every thread of the team.
  template <typename F>
  void run(F&& fn) {
    const int nt = n_threads_;
    auto call = [&fn, nt](int64_t, int tid) { fn(tid, nt); };
    using Call = decltype(call);
    start_job(true, nt, [](void* ctx, int64_t c, int tid) { (*static_cast<Call*>(ctx))(c, tid); }, &call);
  }
  void barrier();

  // [begin, end) of thread `tid`'s share of n items, shares rounded to `align` items.
  static std::pair<int64_t, int64_t> split(int64_t n, int tid, int nt, int64_t align = 1) {
    const int64_t units = (n + align - 1) / align;
    const int64_t per = units / nt, rem = units % nt;
    const int64_t b = tid * per + (tid < rem ? tid : rem);
    const int64_t e = b + per + (tid < rem ? 1 : 0);
    return {std::min(n, b * align), std::min(n, e * align)};
  }

 private:
  using TaskFn = void (*)(void*, int64_t, int);
  void for_each_impl(int64_t n_chunks, TaskFn fn, void* ctx) { start_job(false, n_chunks, fn, ctx); }
  void start_job(bool team, int64_t n_chunks, TaskFn fn, void* ctx);
  // Claims and runs chunks of the job whose state word has generation `gen`.
  void work_on(uint64_t gen, int tid);
  void worker_loop(int tid);

  int n_threads_ = 1;
  std::vector<std::thread> workers_;
  TaskFn task_fn_ = nullptr;
  void* task_ctx_ = nullptr;
  bool team_ = false;  // run(): worker tid runs exactly chunk tid
  // [generation:20][n_chunks:22][next chunk:22]: a claim is a CAS on the whole word, so a
  // late worker can never claim a chunk of a newer job with an older job's function.
  alignas(64) std::atomic<uint64_t> state_{0};
  alignas(64) std::atomic<int64_t> completed_{0};
  alignas(64) std::atomic<int> sleepers_{0};
  alignas(64) std::atomic<int> barrier_count_{0};
  alignas(64) std::atomic<uint32_t> barrier_generation_{0};
  std::atomic<bool> stop_{false};
  bool running_ = false;
  std::mutex mutex_;
  std::condition_variable cv_;
};

}  // namespace lmd
