// Helpers shared by the CUDA backend's op tests under the shim (tests/cuda_backend/
// backend_ops_test.cc) and on a real device (tests/cuda_device/): random inputs and weights of
// every format, a device buffer owned by a Backend, a tolerance check relative to the largest
// expected magnitude, and the (CUDA, CPU exact) backend pair under comparison.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "kernels/common/half.h"
#include "model/weights.h"

namespace lmd {
namespace backend_test {

inline std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}

// A matrix [rows, cols] in `dtype` (random codes and scales for the quantised formats).
inline WeightTensor random_weight(DType dtype, int64_t rows, int64_t cols, int group, uint32_t seed) {
  std::mt19937 rng(seed);
  auto fp16_bytes = [](std::vector<uint8_t>& out, float v) {
    const uint16_t h = f32_to_fp16(v);
    out.push_back(static_cast<uint8_t>(h & 0xff));
    out.push_back(static_cast<uint8_t>(h >> 8));
  };
  if (dtype == DType::kInt4) {
    std::vector<uint8_t> nib(rows * cols / 2), sm;
    for (auto& b : nib) b = static_cast<uint8_t>(rng());
    for (int64_t g = 0; g < rows * cols / group; ++g) {
      const float d = 0.01f + 0.001f * static_cast<float>(rng() % 50);
      fp16_bytes(sm, d);
      fp16_bytes(sm, -7.5f * d);
    }
    return make_int4(rows, cols, group, std::move(nib), std::move(sm));
  }
  if (dtype == DType::kI8) {
    std::vector<uint8_t> q(rows * cols), sc;
    for (auto& b : q) b = static_cast<uint8_t>(rng());
    for (int64_t g = 0; g < rows * cols / group; ++g) fp16_bytes(sc, 0.001f + 0.0001f * static_cast<float>(rng() % 50));
    return make_int8_grouped(rows, cols, group, std::move(q), std::move(sc));
  }
  const std::vector<float> v = randn(static_cast<size_t>(rows * cols), seed, 0.1f);
  return make_dense(dtype, {rows, cols}, v.data());
}

// Device copy of a host vector on `b`, freed with the object.
template <typename T>
class Dev {
 public:
  Dev(Backend& b, const std::vector<T>& host) : b_(b), n_(host.size()) {
    p_ = static_cast<T*>(b.alloc(std::max<size_t>(1, n_) * sizeof(T)));
    if (n_) b.copy_to_device(p_, host.data(), n_ * sizeof(T));
  }
  Dev(Backend& b, size_t n) : Dev(b, std::vector<T>(n)) {}
  ~Dev() { b_.free(p_); }
  T* get() const { return p_; }
  std::vector<T> host() const {
    std::vector<T> v(n_);
    b_.synchronize();
    if (n_) b_.copy_to_host(v.data(), p_, n_ * sizeof(T));
    return v;
  }

 private:
  Backend& b_;
  size_t n_;
  T* p_ = nullptr;
};

inline void expect_close(const std::vector<float>& got, const std::vector<float>& want, float rel, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  float mag = 1e-20f;
  for (float v : want) mag = std::max(mag, std::fabs(v));
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!(std::fabs(got[i] - want[i]) <= rel * mag)) {
      if (bad++ == 0) first = i;
    }
  }
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << got.size() << " values differ by more than " << rel
                     << " x " << mag << "; first at " << first << ": " << got[first] << " vs " << want[first];
}

// The backend under test (CUDA: the shim or a device) and the oracle (CPU, 1 thread, exact).
struct Pair {
  std::unique_ptr<Backend> gpu = create_cuda_backend();
  std::unique_ptr<Backend> cpu = create_cpu_backend(CpuBackendOptions{1, true, false});
};

}  // namespace backend_test
}  // namespace lmd
