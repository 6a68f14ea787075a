// Runs a kernel test under every shim schedule: threads and blocks in order, reversed,
// and shuffled with two seeds. A kernel passes only if every schedule gives the answer.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "kernels/cuda/shim/cuda_compat.h"

namespace lmd::cuda_test {

inline std::vector<shim::Schedule> all_schedules() {
  return {{shim::ScheduleKind::kInOrder, 0},
          {shim::ScheduleKind::kReversed, 0},
          {shim::ScheduleKind::kShuffled, 1},
          {shim::ScheduleKind::kShuffled, 2}};
}

inline std::string schedule_label(const shim::Schedule& s) {
  return std::string(shim::schedule_name(s.kind)) + (s.kind == shim::ScheduleKind::kShuffled ? " seed " + std::to_string(s.seed) : "");
}

// Sets the active schedule for the duration of a scope.
class ScheduleScope {
 public:
  explicit ScheduleScope(shim::Schedule s) : saved_(shim::active_schedule()) { shim::active_schedule() = s; }
  ~ScheduleScope() { shim::active_schedule() = saved_; }

 private:
  shim::Schedule saved_;
};

inline void for_each_schedule(const std::function<void()>& body) {
  for (const shim::Schedule& s : all_schedules()) {
    SCOPED_TRACE("schedule: " + schedule_label(s));
    ScheduleScope scope(s);
    body();
  }
}

// Host "device memory": the shim runs kernels on host pointers.
template <typename T>
T* dev(std::vector<T>& v) {
  return v.data();
}

}  // namespace lmd::cuda_test
