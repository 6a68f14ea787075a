#include "common/thread_pool.h"

#include <chrono>

#include "common/error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define LMD_CPU_RELAX() _mm_pause()
#else
#define LMD_CPU_RELAX() ((void)0)
#endif

namespace lmd {
namespace {
// Spin this many pause-iterations before yielding; yield for this long before sleeping.
constexpr int kSpinIters = 2000;
constexpr auto kYieldFor = std::chrono::milliseconds(2);
}  // namespace

ThreadPool::ThreadPool(int n_threads) {
  if (n_threads <= 0) n_threads = static_cast<int>(std::thread::hardware_concurrency());
  n_threads_ = n_threads < 1 ? 1 : n_threads;
  workers_.reserve(n_threads_ - 1);
  for (int t = 1; t < n_threads_; ++t) workers_.emplace_back([this, t] { worker_loop(t); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1);
  }
  cv_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::run_impl(TaskFn fn, void* ctx) {
  LMD_CHECK(!running_) << "ThreadPool::run is not re-entrant";
  if (n_threads_ == 1) {
    fn(ctx, 0, 1);
    return;
  }
  running_ = true;
  task_fn_ = fn;
  task_ctx_ = ctx;
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) {
    { std::lock_guard<std::mutex> lock(mutex_); }
    cv_.notify_all();
  }
  fn(ctx, 0, n_threads_);
  int spins = 0;
  while (pending_.load(std::memory_order_acquire) != 0) {
    if (++spins < kSpinIters) {
      LMD_CPU_RELAX();
    } else {
      std::this_thread::yield();
    }
  }
  running_ = false;
}

void ThreadPool::worker_loop(int tid) {
  uint64_t seen = 0;
  for (;;) {
    int spins = 0;
    auto yield_start = std::chrono::steady_clock::time_point{};
    uint64_t g;
    while ((g = generation_.load(std::memory_order_acquire)) == seen) {
      if (spins < kSpinIters) {
        ++spins;
        LMD_CPU_RELAX();
        continue;
      }
      if (spins == kSpinIters) {
        ++spins;
        yield_start = std::chrono::steady_clock::now();
      }
      if (std::chrono::steady_clock::now() - yield_start < kYieldFor) {
        std::this_thread::yield();
        continue;
      }
      std::unique_lock<std::mutex> lock(mutex_);
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
      cv_.wait(lock, [&] { return generation_.load(std::memory_order_seq_cst) != seen; });
      sleepers_.fetch_sub(1, std::memory_order_seq_cst);
      spins = 0;
    }
    seen = g;
    if (stop_.load()) return;
    task_fn_(task_ctx_, tid, n_threads_);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::barrier() {
  if (n_threads_ == 1) return;
  const uint32_t g = barrier_generation_.load(std::memory_order_acquire);
  if (barrier_count_.fetch_add(1, std::memory_order_acq_rel) == n_threads_ - 1) {
    barrier_count_.store(0, std::memory_order_relaxed);
    barrier_generation_.store(g + 1, std::memory_order_release);
    return;
  }
  int spins = 0;
  while (barrier_generation_.load(std::memory_order_acquire) == g) {
    if (++spins < kSpinIters) {
      LMD_CPU_RELAX();
    } else {
      std::this_thread::yield();
    }
  }
}

}  // namespace lmd
