// Top-k / top-p sampling kernel under the shim, in every schedule, against a scalar
// reference of the same rule (sampling.cuh's header): the chosen token ids must be equal.
// Rows cover greedy, top-k only, top-p only (k = 0), both, ties between logits, and a
// vocabulary that is not a multiple of the block.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/cuda/sampling.cuh"
#include "tests/cuda/schedules.h"

namespace lmd::cuda_test {
namespace {

int reference_sample(const float* logits, int vocab, float temperature, int top_k, float top_p, float u) {
  std::vector<int> idx(vocab);
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return logits[a] > logits[b]; });
  int k = top_k > 0 ? top_k : cuda::kSampleMaxK;
  k = std::min({k, cuda::kSampleMaxK, vocab});
  if (temperature <= 0.0f || k == 1) return idx[0];
  const float inv_t = 1.0f / temperature;
  std::vector<float> p(k);
  float total = 0.0f;
  for (int j = 0; j < k; ++j) total += (p[j] = expf((logits[idx[j]] - logits[idx[0]]) * inv_t));
  float kept = 0.0f;
  int n_keep = 0;
  while (n_keep < k) {
    kept += p[n_keep++];
    if (kept >= top_p * total) break;
  }
  const float r = u * kept;
  float cum = 0.0f;
  for (int j = 0; j < n_keep; ++j) {
    cum += p[j];
    if (cum > r) return idx[j];
  }
  return idx[n_keep - 1];
}

TEST(CudaSampling, MatchesScalarReference) {
  const int vocab = 1000, batch = 12;
  std::mt19937 rng(42);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  std::vector<float> logits(static_cast<size_t>(batch) * vocab);
  for (float& x : logits) x = std::round(nd(rng) * 4.0f) / 4.0f;  // coarse values: many ties
  std::vector<float> temperature = {0.0f, 1.0f, 0.7f, 1.3f, 1.0f, 0.5f, 1.0f, 2.0f, 1.0f, 0.9f, 1.0f, 1.0f};
  std::vector<int32_t> top_k = {0, 1, 40, 40, 0, 60, 5, 100, 300, 7, 3, 2};
  std::vector<float> top_p = {1.0f, 1.0f, 1.0f, 0.9f, 0.8f, 0.95f, 0.5f, 0.3f, 1.0f, 0.99f, 1e-6f, 1.0f};
  std::vector<float> uniform(batch);
  std::uniform_real_distribution<float> ud(0.0f, 1.0f);
  for (float& u : uniform) u = ud(rng);
  uniform[11] = 0.999999f;
  for_each_schedule([&] {
    std::vector<int32_t> out(batch, -1);
    const cuda::SampleArgs a{logits.data(), vocab, temperature.data(), top_k.data(), top_p.data(), uniform.data(),
                             out.data()};
    cuda::sample(a, batch);
    for (int b = 0; b < batch; ++b) {
      EXPECT_EQ(out[b], reference_sample(logits.data() + static_cast<size_t>(b) * vocab, vocab, temperature[b], top_k[b],
                                         top_p[b], uniform[b]))
          << "row " << b;
    }
  });
}

// Sweeping u over [0, 1) with k = 4 must visit exactly the 4 best tokens.
TEST(CudaSampling, DrawsOnlyFromTopK) {
  const int vocab = 300;
  std::vector<float> logits(vocab, -5.0f);
  logits[17] = 2.0f;
  logits[250] = 1.5f;
  logits[3] = 1.5f;
  logits[299] = 1.0f;
  logits[100] = 0.9f;
  std::vector<int> seen;
  for (float u = 0.0f; u < 1.0f; u += 0.05f) {
    float t = 1.0f, p = 1.0f;
    int32_t k = 4, out = -1;
    cuda::sample(cuda::SampleArgs{logits.data(), vocab, &t, &k, &p, &u, &out}, 1);
    seen.push_back(out);
  }
  std::sort(seen.begin(), seen.end());
  seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
  EXPECT_EQ(seen, (std::vector<int>{3, 17, 250, 299}));
}

}  // namespace
}  // namespace lmd::cuda_test
