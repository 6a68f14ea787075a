#include "comm/cpu_communicator.h"

#include <algorithm>
#include <string>
#include <thread>

#include "core/error.h"

namespace lmd {
namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Waiting: a short spin, a few yields, then sleep. Measured on the shared 2-core machine
// (load ~10, 2 ranks): 20000 spins + 2000 yields cut batch-1 decode ~10x against 200 + 8,
// because a spinning rank takes the core its partner needs; on idle dedicated cores a
// longer spin would shave the wake-up latency instead.
constexpr int kSpins = 200;
constexpr int kYields = 8;
constexpr size_t kAlign = 16;  // floats per 64-byte line: ranks' slices never share a line

}  // namespace

class CpuCommGroup::Rank : public Communicator {
 public:
  Rank(CpuCommGroup* g, int r) : group_(g), rank_(r) {}
  int rank() const override { return rank_; }
  int size() const override { return group_->size_; }
  void all_reduce_sum(float* data, size_t count) override { group_->all_reduce_sum(rank_, data, count); }
  void barrier() override { group_->barrier(); }
  void abort() override { group_->abort(); }
  void reset() override { group_->reset(); }

 private:
  CpuCommGroup* group_;
  int rank_;
};

namespace {

// One rank of a group shared by all the ranks create_cpu_communicators returned.
class SharedGroupRank : public Communicator {
 public:
  SharedGroupRank(std::shared_ptr<CpuCommGroup> g, int r) : group_(std::move(g)), rank_(&group_->rank(r)) {}
  int rank() const override { return rank_->rank(); }
  int size() const override { return rank_->size(); }
  void all_reduce_sum(float* data, size_t count) override { rank_->all_reduce_sum(data, count); }
  void barrier() override { rank_->barrier(); }
  void abort() override { rank_->abort(); }
  void reset() override { rank_->reset(); }

 private:
  std::shared_ptr<CpuCommGroup> group_;
  Communicator* rank_;
};

}  // namespace

std::vector<std::unique_ptr<Communicator>> create_cpu_communicators(int size) {
  auto group = std::make_shared<CpuCommGroup>(size);
  std::vector<std::unique_ptr<Communicator>> out;
  for (int r = 0; r < size; ++r) out.push_back(std::make_unique<SharedGroupRank>(group, r));
  return out;
}

CpuCommGroup::CpuCommGroup(int size) : size_(size) {
  LMD_CHECK(size >= 1) << "communicator size must be >= 1, got " << size;
  for (int r = 0; r < size; ++r) ranks_.push_back(std::make_unique<Rank>(this, r));
  buffers_.assign(size, nullptr);
  counts_.assign(size, 0);
}

CpuCommGroup::~CpuCommGroup() = default;

Communicator& CpuCommGroup::rank(int r) {
  LMD_CHECK(r >= 0 && r < size_) << "communicator rank " << r << " out of range for size " << size_;
  return *ranks_[r];
}

void CpuCommGroup::abort() {
  std::lock_guard<std::mutex> lock(mu_);
  aborted_.store(true, std::memory_order_release);
  cv_.notify_all();
}

void CpuCommGroup::reset() {
  std::lock_guard<std::mutex> lock(mu_);
  arrived_.store(0, std::memory_order_relaxed);
  aborted_.store(false, std::memory_order_release);
}

void CpuCommGroup::barrier() {
  if (size_ == 1) return;
  auto check_abort = [this] {
    if (aborted_.load(std::memory_order_acquire))
      throw Error("tensor-parallel collective aborted: another rank failed in this step", Error::Kind::kInternal);
  };
  check_abort();
  const uint32_t gen = generation_.load(std::memory_order_acquire);
  if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == size_) {
    // Last to arrive: nobody can arrive at the next barrier before the generation moves.
    arrived_.store(0, std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(mu_);
    generation_.store(gen + 1, std::memory_order_release);
    cv_.notify_all();
    return;
  }
  for (int i = 0; i < kSpins; ++i) {
    if (generation_.load(std::memory_order_acquire) != gen) return;
    cpu_relax();
  }
  for (int i = 0; i < kYields; ++i) {
    if (generation_.load(std::memory_order_acquire) != gen) return;
    std::this_thread::yield();
  }
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] {
    return generation_.load(std::memory_order_acquire) != gen || aborted_.load(std::memory_order_acquire);
  });
  if (generation_.load(std::memory_order_acquire) == gen) check_abort();
}

void CpuCommGroup::all_reduce_sum(int rank, float* data, size_t count) {
  if (size_ == 1) return;
  buffers_[rank] = data;
  counts_[rank] = count;
  barrier();
  // Every rank sees the same counts, so every rank throws (none is left waiting).
  for (int r = 1; r < size_; ++r)
    LMD_CHECK(counts_[r] == counts_[0]) << "all_reduce_sum: rank " << r << " passed " << counts_[r]
                                        << " elements, rank 0 passed " << counts_[0];
  // This rank's slice [b, e) of the elements, in whole cache lines.
  const size_t lines = (count + kAlign - 1) / kAlign;
  const size_t per = lines / size_, rem = lines % size_;
  const size_t r = static_cast<size_t>(rank);
  const size_t b = std::min(count, (r * per + std::min(r, rem)) * kAlign);
  const size_t e = std::min(count, ((r + 1) * per + std::min(r + 1, rem)) * kAlign);
  constexpr size_t kTile = 256;
  float acc[kTile];
  for (size_t t0 = b; t0 < e; t0 += kTile) {
    const size_t m = std::min(kTile, e - t0);
    const float* x0 = buffers_[0] + t0;
    for (size_t j = 0; j < m; ++j) acc[j] = x0[j];
    for (int k = 1; k < size_; ++k) {
      const float* xk = buffers_[k] + t0;
      for (size_t j = 0; j < m; ++j) acc[j] += xk[j];  // element j: ((x0 + x1) + x2) + ...
    }
    for (int k = 0; k < size_; ++k) std::copy(acc, acc + m, buffers_[k] + t0);
  }
  barrier();
}

}  // namespace lmd
