#include "common/thread_pool.h"

#include <chrono>

#include "core/error.h"

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

constexpr int kIdxBits = 22, kNBits = 22;
constexpr uint64_t kIdxMask = (uint64_t{1} << kIdxBits) - 1, kNMask = (uint64_t{1} << kNBits) - 1;
inline uint64_t gen_of(uint64_t s) { return s >> (kIdxBits + kNBits); }
inline int64_t n_of(uint64_t s) { return static_cast<int64_t>((s >> kIdxBits) & kNMask); }
inline int64_t idx_of(uint64_t s) { return static_cast<int64_t>(s & kIdxMask); }
}  // namespace

ThreadPool::ThreadPool(int n_threads) {
  if (n_threads <= 0) n_threads = static_cast<int>(std::thread::hardware_concurrency());
  n_threads_ = n_threads < 1 ? 1 : n_threads;
  workers_.reserve(n_threads_ - 1);
  for (int t = 1; t < n_threads_; ++t) workers_.emplace_back([this, t] { worker_loop(t); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
    // a new generation with no chunks wakes everyone
    const uint64_t g = (gen_of(state_.load()) + 1) & ((uint64_t{1} << 20) - 1);
    state_.store(g << (kIdxBits + kNBits));
  }
  cv_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::work_on(uint64_t gen, int tid) {
  uint64_t s = state_.load(std::memory_order_acquire);
  for (;;) {
    if (gen_of(s) != gen || idx_of(s) >= n_of(s)) return;
    if (!state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
    // The job of generation `gen` cannot finish (and task_fn_ / task_ctx_ cannot change)
    // before this claimed chunk is counted as completed.
    task_fn_(task_ctx_, idx_of(s), tid);
    completed_.fetch_add(1, std::memory_order_acq_rel);
    s = state_.load(std::memory_order_acquire);
  }
}

void ThreadPool::start_job(bool team, int64_t n_chunks, TaskFn fn, void* ctx) {
  if (n_chunks <= 0) return;
  LMD_CHECK(n_chunks <= static_cast<int64_t>(kNMask)) << "ThreadPool::for_each: " << n_chunks << " chunks (max "
                                                      << kNMask << ")";
  if (n_threads_ == 1 || (n_chunks == 1 && !team)) {
    for (int64_t c = 0; c < n_chunks; ++c) fn(ctx, c, 0);
    return;
  }
  LMD_CHECK(!running_) << "ThreadPool::for_each is not re-entrant";
  running_ = true;
  task_fn_ = fn;
  task_ctx_ = ctx;
  team_ = team;
  completed_.store(0, std::memory_order_relaxed);
  const uint64_t gen = (gen_of(state_.load(std::memory_order_relaxed)) + 1) & ((uint64_t{1} << 20) - 1);
  state_.store((gen << (kIdxBits + kNBits)) | (static_cast<uint64_t>(n_chunks) << kIdxBits),
               std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) {
    { std::lock_guard<std::mutex> lock(mutex_); }
    cv_.notify_all();
  }
  if (team) {
    fn(ctx, 0, 0);
    completed_.fetch_add(1, std::memory_order_acq_rel);
  } else {
    work_on(gen, 0);
  }
  int spins = 0;
  while (completed_.load(std::memory_order_acquire) != n_chunks) {
    if (++spins < kSpinIters) {
      LMD_CPU_RELAX();
    } else {
      std::this_thread::yield();
    }
  }
  running_ = false;
}

void ThreadPool::worker_loop(int tid) {
  uint64_t seen = 0;  // the state word starts at generation 0; a job may already be published
  for (;;) {
    int spins = 0;
    auto yield_start = std::chrono::steady_clock::time_point{};
    uint64_t g;
    while ((g = gen_of(state_.load(std::memory_order_acquire))) == seen) {
      if (stop_.load(std::memory_order_acquire)) return;
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
      // Timed, and stop_ is part of the predicate: shutting down never depends on one wake-up.
      cv_.wait_for(lock, std::chrono::milliseconds(20), [&] {
        return stop_.load() || gen_of(state_.load(std::memory_order_seq_cst)) != seen;
      });
      sleepers_.fetch_sub(1, std::memory_order_seq_cst);
      spins = 0;
    }
    seen = g;
    if (stop_.load()) return;
    if (team_) {  // written before the state word was published
      task_fn_(task_ctx_, tid, tid);
      completed_.fetch_add(1, std::memory_order_acq_rel);
    } else {
      work_on(g, tid);
    }
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
