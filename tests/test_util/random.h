// Seeded random vectors for tests, header-only. Each draws n values in order from a fresh
// std::mt19937(seed), so a (seed, n) pair gives the same values everywhere and a test's
// expectations never move when the helper is shared.
//
//   const auto x = test_util::randn(64, /*seed=*/1, /*stddev=*/2.0f);   // N(0, 2^2)
//   const auto u = test_util::uniform(64, 7, -1.5f, 1.5f);              // U[-1.5, 1.5)
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace lmd::test_util {

// n draws of N(0, stddev^2).
inline std::vector<float> randn(size_t n, uint32_t seed, float stddev = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, stddev);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// n draws of U[lo, hi).
inline std::vector<float> uniform(size_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

}  // namespace lmd::test_util
