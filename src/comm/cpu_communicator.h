// Shared-memory collectives for tensor-parallel ranks that are threads of one process.
//
//   CpuCommGroup group(3);                        // one per model, shared by its ranks
//   Communicator& c = group.rank(r);              // used only by rank r's thread
//   c.all_reduce_sum(x, n);                       // every rank, same n
//
// all_reduce_sum: each rank publishes its buffer's address, then (barrier) rank r sums a
// disjoint slice of the elements over all ranks' buffers in rank order (x_0 + x_1 + ...)
// and writes the sum back into every rank's buffer, then (barrier) everyone returns. Each
// element is summed by exactly one thread in a fixed order, so results are bit-identical
// whatever the timing. Two barriers per call; no copies beyond the sums themselves.
//
// Barrier: the last rank to arrive bumps a generation counter; the others spin briefly,
// then yield, then sleep on a condition variable (the machine may be oversubscribed).
//
// Failure: when one rank fails inside a step, abort() wakes every rank waiting in (or
// later entering) a collective with an lmd::Error instead of a hang; reset() re-arms the
// group once all ranks have left their collectives. Each rank's Communicator::abort() /
// reset() does the same to its whole group.
//
// create_cpu_communicators(N): the same group as N independently owned Communicators (they
// share the group), the form TpModel takes from a communicator factory. Also the stand-in for
// NCCL under the CUDA-on-CPU shim, whose "device" memory is host memory.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "comm/communicator.h"

namespace lmd {

class CpuCommGroup {
 public:
  explicit CpuCommGroup(int size);
  ~CpuCommGroup();
  CpuCommGroup(const CpuCommGroup&) = delete;
  CpuCommGroup& operator=(const CpuCommGroup&) = delete;

  int size() const { return size_; }
  Communicator& rank(int r);

  void abort();
  void reset();

 private:
  class Rank;
  friend class Rank;
  void barrier();
  void all_reduce_sum(int rank, float* data, size_t count);

  const int size_;
  std::vector<std::unique_ptr<Rank>> ranks_;
  std::vector<float*> buffers_;  // [size]: published by each rank before the first barrier
  std::vector<size_t> counts_;   // [size]
  std::atomic<int> arrived_{0};
  std::atomic<uint32_t> generation_{0};
  std::atomic<bool> aborted_{false};
  std::mutex mu_;
  std::condition_variable cv_;
};

// N ranks of one new CpuCommGroup; the group lives until the last of them is destroyed.
std::vector<std::unique_ptr<Communicator>> create_cpu_communicators(int size);

}  // namespace lmd
