// One team of threads for the CPU kernels, created once. A model's ops on a 135M model
// take microseconds, so dispatch and barrier cost dominate: workers spin on a generation
// counter (then yield, then sleep on a condition variable after ~1 ms idle) and the
// caller participates as thread 0. No allocation per run().
//
//   pool.run([&](int tid, int nt) { auto [b, e] = ThreadPool::split(rows, tid, nt); ... });
//
// Inside run(), every thread may call pool.barrier() (all threads must call it the same
// number of times). run() is not re-entrant.
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

  template <typename F>
  void run(F&& fn) {
    using Fn = std::remove_reference_t<F>;
    run_impl([](void* ctx, int tid, int nt) { (*static_cast<Fn*>(ctx))(tid, nt); },
             const_cast<void*>(static_cast<const void*>(&fn)));
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
  using TaskFn = void (*)(void*, int, int);
  void run_impl(TaskFn fn, void* ctx);
  void worker_loop(int tid);

  int n_threads_ = 1;
  std::vector<std::thread> workers_;
  TaskFn task_fn_ = nullptr;
  void* task_ctx_ = nullptr;
  alignas(64) std::atomic<uint64_t> generation_{0};
  alignas(64) std::atomic<int> pending_{0};
  alignas(64) std::atomic<int> barrier_count_{0};
  alignas(64) std::atomic<uint32_t> barrier_generation_{0};
  alignas(64) std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  bool running_ = false;
  std::mutex mutex_;
  std::condition_variable cv_;
};

}  // namespace lmd
