// The device sampler (kernels/cuda/sampling.cuh) under the shim, in every schedule, against a
// float64 oracle of the same rule written independently here (penalties -> bans ->
// temperature -> top-k -> softmax -> top-p -> min-p -> draw): the kernel's output
// distribution within 1e-5 of the oracle's, the drawn token the oracle's for the same
// uniform (unless u is within 1e-6 of a cumulative boundary, where float vs double rounding
// may legitimately choose the neighbour). The exact token-for-token match with the engine's
// host sampler is tests/cuda_backend/sampling_host_test.cc.
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

struct Row {
  cuda::SampleParams p;
  std::vector<int32_t> seen, gen, bans;  // sparse: token ids (repeated = counts)
};

// The oracle: probabilities over tokens (0 for dropped) and the draw order.
struct Oracle {
  std::vector<double> prob;
  std::vector<int> order;
  int greedy = -1;
};

Oracle oracle(const float* logits, int V, const Row& r) {
  std::vector<double> l(logits, logits + V);
  std::vector<int> seen(V, 0), gen(V, 0);
  for (int t : r.seen) ++seen[t];
  for (int t : r.gen) ++gen[t];
  const cuda::SampleParams& P = r.p;
  for (int t = 0; t < V; ++t) {
    if (seen[t] > 0 && P.repetition_penalty != 1.0f) l[t] = l[t] > 0 ? l[t] / P.repetition_penalty : l[t] * P.repetition_penalty;
    if (gen[t] > 0) l[t] -= P.presence_penalty + P.frequency_penalty * gen[t];
  }
  for (int t : r.bans) l[t] = -INFINITY;
  Oracle o;
  o.prob.assign(V, 0.0);
  if (P.temperature == 0.0f || P.top_k == 1) {
    o.greedy = static_cast<int>(std::max_element(l.begin(), l.end()) - l.begin());
    o.prob[o.greedy] = 1.0;
    return o;
  }
  std::vector<int> cand;
  for (int t = 0; t < V; ++t)
    if (l[t] > -INFINITY) cand.push_back(t);
  if (cand.empty()) {
    o.greedy = 0;
    o.prob[0] = 1.0;
    return o;
  }
  for (int t : cand) l[t] /= P.temperature;
  const bool sorted = P.top_k > 0 || P.top_p < 1.0f;
  if (sorted) std::stable_sort(cand.begin(), cand.end(), [&](int a, int b) { return l[a] > l[b]; });
  if (P.top_k > 0 && P.top_k < static_cast<int>(cand.size())) cand.resize(P.top_k);
  double mx = -INFINITY, sum = 0.0;
  for (int t : cand) mx = std::max(mx, l[t]);
  for (int t : cand) sum += std::exp(l[t] - mx);
  std::vector<double> p;
  for (int t : cand) p.push_back(std::exp(l[t] - mx) / sum);
  size_t keep = cand.size();
  if (P.top_p < 1.0f) {
    double c = 0.0;
    for (size_t i = 0; i < cand.size(); ++i)
      if ((c += p[i]) >= P.top_p) {
        keep = i + 1;
        break;
      }
  }
  const double pmax = *std::max_element(p.begin(), p.end());
  double kept = 0.0;
  for (size_t i = 0; i < keep; ++i)
    if (!(p[i] < P.min_p * pmax)) {
      o.order.push_back(cand[i]);
      o.prob[cand[i]] = p[i];
      kept += p[i];
    }
  for (int t : o.order) o.prob[t] /= kept;
  return o;
}

// The oracle's token for u, or -2 when u is within 1e-6 of a boundary.
int oracle_token(const Oracle& o, double u) {
  if (o.greedy >= 0) return o.greedy;
  double c = 0.0;
  for (int t : o.order) {
    c += o.prob[t];
    if (std::fabs(u - c) < 1e-6) return -2;
    if (u < c) return t;
  }
  return o.order.back();
}

void run(const std::vector<float>& logits, int V, const std::vector<Row>& rows, const std::vector<double>& uniform) {
  const int batch = static_cast<int>(rows.size());
  std::vector<cuda::SampleParams> params;
  std::vector<int32_t> seen(static_cast<size_t>(batch) * V, 0), gen(seen.size(), 0), offs(1, 0), bans;
  for (int b = 0; b < batch; ++b) {
    params.push_back(rows[b].p);
    for (int t : rows[b].seen) ++seen[static_cast<size_t>(b) * V + t];
    for (int t : rows[b].gen) ++gen[static_cast<size_t>(b) * V + t];
    bans.insert(bans.end(), rows[b].bans.begin(), rows[b].bans.end());
    offs.push_back(static_cast<int32_t>(bans.size()));
  }
  for_each_schedule([&] {
    std::vector<float> work(logits.size()), probs(logits.size(), -1.0f);
    std::vector<int32_t> out(batch, -7);
    cuda::sample(cuda::SampleArgs{logits.data(), V, params.data(), seen.data(), gen.data(), offs.data(), bans.data(),
                                  uniform.data(), work.data(), out.data(), probs.data()},
                 batch);
    for (int b = 0; b < batch; ++b) {
      const Oracle o = oracle(logits.data() + static_cast<size_t>(b) * V, V, rows[b]);
      double worst = 0.0;
      for (int t = 0; t < V; ++t) worst = std::max(worst, std::fabs(probs[static_cast<size_t>(b) * V + t] - o.prob[t]));
      EXPECT_LT(worst, 1e-5) << "row " << b << ": distribution differs";
      const int want = oracle_token(o, uniform[b]);
      if (want != -2) {
        EXPECT_EQ(out[b], want) << "row " << b << " u " << uniform[b];
      }
    }
  });
}

TEST(CudaSampling, MatchesFloat64OracleInEverySchedule) {
  const int V = 1000;  // not a multiple of the block
  std::mt19937 rng(42);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  auto row = [](float t, int k, float p, float minp) {
    Row r;
    r.p.temperature = t;
    r.p.top_k = k;
    r.p.top_p = p;
    r.p.min_p = minp;
    return r;
  };
  std::vector<Row> rows = {row(0.0f, 0, 1.0f, 0.0f), row(1.0f, 40, 1.0f, 0.0f),  row(0.7f, 0, 0.9f, 0.0f),
                           row(1.3f, 60, 0.8f, 0.0f), row(1.0f, 0, 1.0f, 0.0f),  row(1.0f, 0, 1.0f, 0.02f),
                           row(0.9f, 100, 0.95f, 0.1f), row(2.0f, 7, 1.0f, 0.0f), row(1.0f, 3, 1e-6f, 0.0f)};
  Row pen = row(1.0f, 50, 1.0f, 0.0f);
  pen.p.repetition_penalty = 1.5f;
  pen.p.presence_penalty = 0.7f;
  pen.p.frequency_penalty = 0.4f;
  pen.seen = {1, 2, 3, 500, 500, 999};
  pen.gen = {500, 500, 999};
  rows.push_back(pen);
  Row banned = row(1.0f, 0, 1.0f, 0.0f);  // every token banned: token 0
  for (int t = 0; t < V; ++t) banned.bans.push_back(t);
  rows.push_back(banned);
  Row greedy_ban = row(0.0f, 0, 1.0f, 0.0f);
  rows.push_back(greedy_ban);
  const int batch = static_cast<int>(rows.size());
  std::vector<float> logits(static_cast<size_t>(batch) * V);
  for (float& x : logits) x = std::round(nd(rng) * 4.0f) / 4.0f;  // coarse values: many ties
  // The greedy row's best token is banned: the next one wins.
  const size_t g = static_cast<size_t>(batch - 1) * V;
  logits[g + 123] = 100.0f;
  rows.back().bans = {123};
  std::vector<double> uniform(batch);
  std::uniform_real_distribution<double> ud(0.0, 1.0);
  for (double& u : uniform) u = ud(rng);
  run(logits, V, rows, uniform);
}

// Sweeping u over [0, 1) with k = 4 visits exactly the 4 best tokens, in rank order.
TEST(CudaSampling, DrawsOnlyFromTopKInRankOrder) {
  const int vocab = 300;
  std::vector<float> logits(vocab, -5.0f);
  logits[17] = 2.0f;
  logits[250] = 1.5f;
  logits[3] = 1.5f;
  logits[299] = 1.0f;
  logits[100] = 0.9f;
  std::vector<int> seen;
  cuda::SampleParams p;
  p.top_k = 4;
  std::vector<float> work(vocab);
  for (double u = 0.0; u < 1.0; u += 0.05) {
    int32_t out = -1;
    cuda::sample(cuda::SampleArgs{logits.data(), vocab, &p, nullptr, nullptr, nullptr, nullptr, &u, work.data(), &out,
                                  nullptr},
                 1);
    if (seen.empty() || seen.back() != out) seen.push_back(out);
  }
  EXPECT_EQ(seen, (std::vector<int>{17, 3, 250, 299}));
}

// More sorted candidates than kSampleMaxK: -1 (the caller samples on the host).
TEST(CudaSampling, TooManySortedCandidatesAskForTheHost) {
  const int vocab = 3000;
  std::vector<float> logits(2 * vocab, 0.0f);  // flat: top-p 0.99 needs ~2970 tokens
  std::vector<cuda::SampleParams> p(2);
  p[0].top_p = 0.99f;
  p[1].top_k = 2000;
  std::vector<double> u = {0.5, 0.5};
  std::vector<float> work(logits.size());
  std::vector<int32_t> out(2, 7);
  cuda::sample(cuda::SampleArgs{logits.data(), vocab, p.data(), nullptr, nullptr, nullptr, nullptr, u.data(),
                                work.data(), out.data(), nullptr},
               2);
  EXPECT_EQ(out[0], -1);
  EXPECT_EQ(out[1], -1);
}

}  // namespace
}  // namespace lmd::cuda_test
