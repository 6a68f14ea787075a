// The CUDA-on-CPU runtime used by tests: runs an unmodified kernel on the host, one fiber
// per CUDA thread (Boost.Context), so barriers and warp collectives are real rendezvous
// points instead of no-ops. Only ever included through kernels/cuda/shim/cuda_compat.h.
//
// Execution model (one OS thread, no preemption):
//   * blocks run one after another, in the order given by the active Schedule;
//   * inside a block, every thread runs until it waits (a __syncthreads, a warp collective)
//     or returns; then the next thread in schedule order runs. When nobody can run, the
//     scheduler checks the barrier: all live threads at the same __syncthreads → release,
//     anything else (threads returned, two different barriers, a warp collective still
//     waiting) → lmd::Error naming the call sites;
//   * a warp collective completes when every lane named in the mask has arrived at the
//     same operation with the same mask; the last lane to arrive computes everybody's result.
//   * shared memory is a per-block arena filled with 0xFF (NaN for floats) at block start,
//     so reading a value nobody wrote is visible.
//
// Host threads: all of the above is per host thread (the built-in variables, the fiber pool
// and the block being run are thread_local; so is the active Schedule, which a test sets on
// the thread that launches), so several host threads — tensor-parallel ranks, one per
// simulated device (cudart.h: LMD_CUDA_SHIM_DEVICES) — launch kernels concurrently, each
// running its own grid to completion. Shared between them: only the device heap (cudart.h,
// under its mutex) and the memory the kernels touch.
#pragma once

#include <boost/context/fiber.hpp>
#include <boost/context/protected_fixedsize_stack.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <vector_types.h>

#include "core/error.h"

// The built-in variables: real integers, refreshed before each fiber resumes.
inline thread_local uint3 threadIdx;
inline thread_local uint3 blockIdx;
inline thread_local dim3 blockDim;
inline thread_local dim3 gridDim;

namespace lmd::shim {

constexpr int kWarpSize = 32;
constexpr int kMaxThreadsPerBlock = 1024;
constexpr size_t kMaxSharedBytes = 48 * 1024;  // without the opt-in attribute
constexpr size_t kMaxParamBytes = 4096;
constexpr size_t kFiberStackBytes = 256 * 1024;

// ---------------------------------------------------------------- schedules
enum class ScheduleKind { kInOrder, kReversed, kShuffled };

struct Schedule {
  ScheduleKind kind = ScheduleKind::kInOrder;
  uint64_t seed = 0;
};

inline const char* schedule_name(ScheduleKind k) {
  switch (k) {
    case ScheduleKind::kInOrder: return "in-order";
    case ScheduleKind::kReversed: return "reversed";
    case ScheduleKind::kShuffled: return "shuffled";
  }
  return "?";
}

inline Schedule& active_schedule() {
  static thread_local Schedule s;
  return s;
}

// Permutation of 0..n-1 for the active schedule; `salt` varies shuffled orders between
// scheduling rounds of the same block.
inline std::vector<int> schedule_order(int n, uint64_t salt) {
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  const Schedule& s = active_schedule();
  if (s.kind == ScheduleKind::kReversed) {
    std::reverse(order.begin(), order.end());
  } else if (s.kind == ScheduleKind::kShuffled) {
    std::mt19937_64 rng(s.seed * 0x9E3779B97F4A7C15ull + salt);
    std::shuffle(order.begin(), order.end(), rng);
  }
  return order;
}

// ---------------------------------------------------------------- call sites, errors
struct Site {
  const char* file = "?";
  int line = 0;
};

inline std::string site_str(Site s) {
  const char* slash = std::strrchr(s.file, '/');
  return std::string(slash ? slash + 1 : s.file) + ":" + std::to_string(s.line);
}

[[noreturn]] inline void shim_fail(const std::string& msg) {
  throw lmd::Error("cuda shim: " + msg, lmd::Error::Kind::kInternal);
}

// Thrown into waiting fibers to unwind them after another thread of the block failed.
struct BlockAborted {};

// ---------------------------------------------------------------- per-thread state
enum class WarpOp : int { kShfl, kShflUp, kShflDown, kShflXor, kBallot, kAny, kAll, kSyncwarp, kLdmatrix, kMma };

inline const char* warp_op_name(WarpOp op) {
  static const char* names[] = {"__shfl_sync", "__shfl_up_sync", "__shfl_down_sync", "__shfl_xor_sync",
                                "__ballot_sync", "__any_sync", "__all_sync", "__syncwarp", "ldmatrix",
                                "mma.sync"};
  return names[static_cast<int>(op)];
}

// What one lane brings to a warp collective and what it gets back.
struct WarpSlot {
  WarpOp op = WarpOp::kSyncwarp;
  unsigned mask = 0;
  Site site;
  uint64_t value = 0;  // shuffled value / predicate / ldmatrix address
  int arg = 0;         // source lane, delta or lane mask
  int width = kWarpSize;
  uint32_t in[12] = {};  // mma: a[4], b[2], c[4] (floats as bits)
  uint32_t out[4] = {};  // ldmatrix / mma results
  uint64_t result = 0;
};

enum class ThreadStatus { kRunnable, kRunning, kAtBarrier, kAtWarp, kDone };

struct CpAsyncCopy {
  void* dst;
  const void* src;
  int bytes;
  int group;
};

struct ThreadState {
  uint3 idx{};
  int linear = 0;
  ThreadStatus status = ThreadStatus::kRunnable;
  bool started = false;
  Site wait_site;
  WarpSlot warp;
  std::vector<CpAsyncCopy> cp_pending;
  int cp_group = 0;  // index of the group being filled (committed groups are < cp_group)
};

struct StaticSmemSite {
  const char* file;
  int line;
};

struct BlockState {
  dim3 grid, block;
  uint3 block_idx{};
  int nthreads = 0;
  std::vector<ThreadState> threads;
  std::vector<unsigned char> arena;  // [dynamic | static declarations...]
  size_t dyn_bytes = 0;
  size_t used = 0;
  std::vector<std::pair<const StaticSmemSite*, size_t>> static_offsets;
  bool aborting = false;
  std::exception_ptr error;
  // Per warp, for the full-mask fast path of warp collectives (device.h): lanes waiting at
  // a collective, of which at a full-mask one (and its op), lanes that have returned.
  struct WarpCounts {
    int waiting = 0, waiting_full = 0, done = 0;
    WarpOp full_op = WarpOp::kSyncwarp;
  };
  std::vector<WarpCounts> warps;
};

// ---------------------------------------------------------------- fibers
namespace ctx = boost::context;

struct Worker {
  ctx::fiber self;   // the worker, while suspended
  ctx::fiber sched;  // the scheduler, while the worker runs
  const std::function<void()>* job = nullptr;
  ThreadState* ts = nullptr;
  BlockState* block = nullptr;
};

struct Runtime {
  std::vector<std::unique_ptr<Worker>> workers;  // pooled: stacks live for the process
  BlockState* block = nullptr;                   // the block being executed
  Worker* current = nullptr;                     // the fiber running now
};

inline Runtime& runtime() {
  static thread_local Runtime* rt = new Runtime;  // never freed: fibers must outlive tests
  return *rt;
}

inline void yield_to_scheduler() {
  Worker* w = runtime().current;
  w->sched = std::move(w->sched).resume();
  if (w->block->aborting) throw BlockAborted{};
}

inline void run_job(Worker* w) {
  try {
    (*w->job)();
  } catch (const ctx::detail::forced_unwind&) {
    throw;
  } catch (const BlockAborted&) {
  } catch (...) {
    if (!w->block->error) w->block->error = std::current_exception();
  }
  w->ts->status = ThreadStatus::kDone;
  ++w->block->warps[w->ts->linear / kWarpSize].done;
}

inline Worker* worker(int i) {
  Runtime& rt = runtime();
  while (static_cast<int>(rt.workers.size()) <= i) {
    auto w = std::make_unique<Worker>();
    Worker* wp = w.get();
    wp->self = ctx::fiber(std::allocator_arg, ctx::protected_fixedsize_stack(kFiberStackBytes),
                          [wp](ctx::fiber&& sched) {
                            wp->sched = std::move(sched);
                            for (;;) {  // each resume from idle runs one CUDA thread
                              run_job(wp);
                              wp->sched = std::move(wp->sched).resume();
                            }
                            return std::move(wp->sched);
                          });
    rt.workers.push_back(std::move(w));
  }
  return rt.workers[i].get();
}

inline ThreadState& current_thread() { return *runtime().current->ts; }
inline BlockState& current_block() {
  BlockState* b = runtime().block;
  if (!b) shim_fail("device function called outside a kernel launch");
  return *b;
}

inline void resume(BlockState& b, int t, const std::function<void()>& job) {
  ThreadState& ts = b.threads[t];
  Worker* w = worker(t);
  w->job = &job;
  w->ts = &ts;
  w->block = &b;
  threadIdx = ts.idx;
  ts.status = ThreadStatus::kRunning;
  ts.started = true;
  runtime().current = w;
  w->self = std::move(w->self).resume();
  runtime().current = nullptr;
}

// Names what every waiting thread waits for (for deadlock messages).
inline std::string describe_waits(const BlockState& b) {
  std::ostringstream os;
  int shown = 0;
  for (const ThreadState& t : b.threads) {
    if (shown == 6) {
      os << " ...";
      break;
    }
    if (t.status == ThreadStatus::kAtBarrier) {
      os << " [thread " << t.linear << " at __syncthreads " << site_str(t.wait_site) << "]";
      ++shown;
    } else if (t.status == ThreadStatus::kAtWarp) {
      os << " [thread " << t.linear << " at " << warp_op_name(t.warp.op) << " " << site_str(t.warp.site)
         << " mask 0x" << std::hex << t.warp.mask << std::dec << "]";
      ++shown;
    }
  }
  return os.str();
}

// All threads wait: release a consistent barrier or fail with the call sites.
inline void resolve_barrier(BlockState& b) {
  int at_barrier = 0, at_warp = 0, done = 0;
  const ThreadState* first_barrier = nullptr;
  const ThreadState* first_done = nullptr;
  for (const ThreadState& t : b.threads) {
    if (t.status == ThreadStatus::kAtBarrier) {
      if (!first_barrier) first_barrier = &t;
      ++at_barrier;
    } else if (t.status == ThreadStatus::kAtWarp) {
      ++at_warp;
    } else if (t.status == ThreadStatus::kDone) {
      if (!first_done) first_done = &t;
      ++done;
    }
  }
  std::ostringstream os;
  os << "block (" << b.block_idx.x << "," << b.block_idx.y << "," << b.block_idx.z << "): ";
  if (at_warp > 0) {
    os << "deadlock: a warp collective waits for lanes that are elsewhere:" << describe_waits(b);
    shim_fail(os.str());
  }
  for (const ThreadState& t : b.threads) {
    if (t.status == ThreadStatus::kAtBarrier &&
        (t.wait_site.line != first_barrier->wait_site.line || std::strcmp(t.wait_site.file, first_barrier->wait_site.file) != 0)) {
      os << "divergent __syncthreads: thread " << first_barrier->linear << " at "
         << site_str(first_barrier->wait_site) << ", thread " << t.linear << " at " << site_str(t.wait_site);
      shim_fail(os.str());
    }
  }
  if (done > 0) {
    os << "__syncthreads at " << site_str(first_barrier->wait_site) << " reached by " << at_barrier << " of "
       << b.nthreads << " threads; " << done << " threads had returned (e.g. thread " << first_done->linear << ")";
    shim_fail(os.str());
  }
  for (ThreadState& t : b.threads) t.status = ThreadStatus::kRunnable;
}

inline void unwind_waiting(BlockState& b, const std::function<void()>& job) {
  b.aborting = true;
  for (int t = 0; t < b.nthreads; ++t) {
    ThreadState& ts = b.threads[t];
    if (!ts.started) ts.status = ThreadStatus::kDone;
    if (ts.status != ThreadStatus::kDone) resume(b, t, job);
  }
}

inline void run_block(BlockState& b, const std::function<void()>& job) {
  uint64_t round = 0;
  for (;;) {
    bool ran = false;
    for (int t : schedule_order(b.nthreads, round++ * 1315423911ull + b.block_idx.x * 7919ull + b.block_idx.y)) {
      if (b.threads[t].status != ThreadStatus::kRunnable) continue;
      resume(b, t, job);
      ran = true;
      if (b.error) {
        unwind_waiting(b, job);
        std::rethrow_exception(b.error);
      }
    }
    if (ran) continue;
    bool all_done = std::all_of(b.threads.begin(), b.threads.end(),
                                [](const ThreadState& t) { return t.status == ThreadStatus::kDone; });
    if (all_done) return;
    try {
      resolve_barrier(b);
    } catch (...) {
      unwind_waiting(b, job);
      throw;
    }
  }
}

// ---------------------------------------------------------------- launch
// The grid argument of launch(): captures the caller's file:line for error messages.
struct LaunchGrid {
  dim3 dims;
  Site site;
  LaunchGrid(dim3 d, const char* file = __builtin_FILE(), int line = __builtin_LINE()) : dims(d), site{file, line} {}
  LaunchGrid(unsigned x, const char* file = __builtin_FILE(), int line = __builtin_LINE())
      : dims(x), site{file, line} {}
  LaunchGrid(int x, const char* file = __builtin_FILE(), int line = __builtin_LINE())
      : dims(static_cast<unsigned>(x)), site{file, line} {}
};

inline void check_launch(const LaunchGrid& grid, dim3 block, size_t smem, size_t param_bytes) {
  const std::string where = "launch at " + site_str(grid.site) + ": ";
  const uint64_t threads = static_cast<uint64_t>(block.x) * block.y * block.z;
  if (threads == 0 || threads > kMaxThreadsPerBlock || block.x > 1024 || block.y > 1024 || block.z > 64) {
    shim_fail(where + "block (" + std::to_string(block.x) + "," + std::to_string(block.y) + "," +
              std::to_string(block.z) + ") = " + std::to_string(threads) + " threads; the limit is 1024");
  }
  const dim3 g = grid.dims;
  if (g.x == 0 || g.y == 0 || g.z == 0 || g.y > 65535 || g.z > 65535 || g.x > 2147483647u) {
    shim_fail(where + "grid (" + std::to_string(g.x) + "," + std::to_string(g.y) + "," + std::to_string(g.z) +
              ") is empty or over the limits");
  }
  if (smem > kMaxSharedBytes) {
    shim_fail(where + "dynamic shared memory " + std::to_string(smem) + " bytes > " +
              std::to_string(kMaxSharedBytes));
  }
  if (param_bytes > kMaxParamBytes) {
    shim_fail(where + "kernel parameters take " + std::to_string(param_bytes) + " bytes > " +
              std::to_string(kMaxParamBytes));
  }
}

inline void run_grid(const LaunchGrid& grid, dim3 block, size_t smem, const std::function<void()>& job) {
  if (runtime().block) shim_fail("launch at " + site_str(grid.site) + " from inside a kernel");
  const dim3 g = grid.dims;
  const int nthreads = static_cast<int>(block.x * block.y * block.z);
  const uint64_t nblocks = static_cast<uint64_t>(g.x) * g.y * g.z;
  BlockState b;
  b.grid = g;
  b.block = block;
  b.nthreads = nthreads;
  b.threads.resize(nthreads);
  b.dyn_bytes = (smem + 15) / 16 * 16;
  b.arena.resize(kMaxSharedBytes + 64);
  gridDim = g;
  blockDim = block;
  std::vector<uint64_t> blocks(nblocks);
  std::iota(blocks.begin(), blocks.end(), 0);
  const std::vector<int> order = schedule_order(static_cast<int>(nblocks), 0xB10C);
  for (int ob : order) {
    const uint64_t lin = blocks[ob];
    b.block_idx = uint3{static_cast<unsigned>(lin % g.x), static_cast<unsigned>(lin / g.x % g.y),
                        static_cast<unsigned>(lin / (static_cast<uint64_t>(g.x) * g.y))};
    blockIdx = b.block_idx;
    for (int t = 0; t < nthreads; ++t) {
      ThreadState& ts = b.threads[t];
      ts = ThreadState{};
      ts.linear = t;
      ts.idx = uint3{static_cast<unsigned>(t % block.x), static_cast<unsigned>(t / block.x % block.y),
                     static_cast<unsigned>(t / (block.x * block.y))};
    }
    // Poison the dynamic part now and each static array when first declared (static_smem):
    // the same "unwritten reads NaN" guarantee without filling 48 KiB per block.
    std::fill(b.arena.begin(), b.arena.begin() + b.dyn_bytes, 0xFF);
    b.used = b.dyn_bytes;
    b.static_offsets.clear();
    b.aborting = false;
    b.error = nullptr;
    b.warps.assign((nthreads + kWarpSize - 1) / kWarpSize, BlockState::WarpCounts{});
    runtime().block = &b;
    try {
      run_block(b, job);
    } catch (...) {
      runtime().block = nullptr;
      throw;
    }
    runtime().block = nullptr;
  }
}

// kernel<<<grid, block, smem>>>(args...): synchronous, arguments converted to the
// kernel's parameter types and copied once (every thread reads the same copy).
template <typename... Params, typename... Args>
void launch(void (*kernel)(Params...), LaunchGrid grid, dim3 block, size_t smem, Args&&... args) {
  static_assert(sizeof...(Params) == sizeof...(Args), "launch: argument count differs from the kernel's");
  const std::tuple<std::decay_t<Params>...> params(std::forward<Args>(args)...);
  check_launch(grid, block, smem, (0 + ... + sizeof(std::decay_t<Params>)));
  const std::function<void()> job = [&] { std::apply(kernel, params); };
  run_grid(grid, block, smem, job);
}

// ---------------------------------------------------------------- shared memory
inline unsigned char* dynamic_smem() { return current_block().arena.data(); }

template <typename T>
T* static_smem(const StaticSmemSite* site) {
  BlockState& b = current_block();
  for (const auto& [s, off] : b.static_offsets) {
    if (s == site) return reinterpret_cast<T*>(b.arena.data() + off);
  }
  const size_t align = alignof(T) > 16 ? alignof(T) : 16;
  const size_t off = (b.used + align - 1) / align * align;
  if (off + sizeof(T) > kMaxSharedBytes) {
    shim_fail("shared memory at " + site_str(Site{site->file, site->line}) + ": " + std::to_string(off + sizeof(T)) +
              " bytes (static + dynamic) > " + std::to_string(kMaxSharedBytes));
  }
  b.used = off + sizeof(T);
  std::fill(b.arena.begin() + off, b.arena.begin() + off + sizeof(T), 0xFF);
  b.static_offsets.emplace_back(site, off);
  return reinterpret_cast<T*>(b.arena.data() + off);
}

}  // namespace lmd::shim
