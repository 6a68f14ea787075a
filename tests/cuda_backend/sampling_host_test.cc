// The device sampling kernel (kernels/cuda/sampling.cuh, under the shim, every schedule)
// against the engine's host sampler (src/sampling/sampler.cc, RequestSampler) as the oracle:
// a batch of requests with different configs (greedy, top-k, top-p, both, min-p, the
// penalties, temperature, ignore_eos / min_new_tokens bans, top-k beyond the vocabulary),
// several steps each, the same uniform numbers: the same token ids at every step.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "kernels/cuda/sampling.cuh"
#include "sampling/sampler.h"
#include "tests/cuda/schedules.h"

namespace lmd {
namespace {

struct Case {
  GenerationConfig g;
  std::vector<int32_t> history;
};

std::vector<Case> cases(int vocab) {
  std::vector<Case> c;
  auto add = [&](float temperature, int top_k, float top_p, float min_p) -> GenerationConfig& {
    Case x;
    x.g.temperature = temperature;
    x.g.top_k = top_k;
    x.g.top_p = top_p;
    x.g.min_p = min_p;
    x.g.seed = 1000 + c.size();
    for (int i = 0; i < 12; ++i) x.history.push_back(static_cast<int32_t>((i * 37 + c.size() * 11) % vocab));
    c.push_back(x);
    return c.back().g;
  };
  add(0.0f, 50, 1.0f, 0.0f);          // greedy
  add(1.0f, 1, 1.0f, 0.0f);           // top_k 1 is greedy
  add(1.0f, 40, 1.0f, 0.0f);          // top-k
  add(0.7f, 0, 0.8f, 0.0f);           // top-p over every candidate (sorted)
  add(1.3f, 20, 0.9f, 0.0f);          // both
  add(1.0f, 0, 1.0f, 0.0f);           // no filter: token order
  add(1.0f, 0, 1.0f, 0.05f);          // min-p, token order
  add(0.9f, 30, 0.95f, 0.1f);         // all three
  add(1.0f, 5000, 1.0f, 0.0f);        // top_k beyond the vocabulary: every candidate, sorted
  GenerationConfig& pen = add(1.0f, 50, 1.0f, 0.0f);
  pen.repetition_penalty = 1.3f;
  pen.presence_penalty = 0.5f;
  pen.frequency_penalty = 0.3f;
  GenerationConfig& pen2 = add(0.8f, 0, 1.0f, 0.0f);
  pen2.repetition_penalty = 0.7f;  // < 1 raises seen tokens
  pen2.frequency_penalty = -0.4f;
  GenerationConfig& bans = add(1.0f, 10, 1.0f, 0.0f);
  bans.min_new_tokens = 3;
  bans.stop_token_ids = {7, 9};
  GenerationConfig& ign = add(0.0f, 0, 1.0f, 0.0f);
  ign.ignore_eos = true;
  return c;
}

TEST(CudaSamplingVsHost, SameTokensAsRequestSampler) {
  const int vocab = 300, steps = 4, eos = 2;
  const std::vector<Case> cs = cases(vocab);
  const int batch = static_cast<int>(cs.size());
  cuda_test::for_each_schedule([&] {
    int not_argmax = 0;  // draws that are not the raw arg-max: the test really samples
    std::vector<RequestSampler> host;
    std::vector<std::mt19937_64> rngs;  // RequestSampler's generator: seeded by cfg.seed
    std::vector<int32_t> seen(static_cast<size_t>(batch) * vocab, 0), gen(seen.size(), 0);
    std::vector<int> generated(batch, 0);
    for (int b = 0; b < batch; ++b) {
      host.emplace_back(cs[b].g, eos, cs[b].history, 0);
      rngs.emplace_back(*cs[b].g.seed);
      for (int32_t t : cs[b].history) ++seen[static_cast<size_t>(b) * vocab + t];
    }
    std::mt19937 lrng(5);
    std::normal_distribution<float> nd(0.0f, 2.5f);
    for (int step = 0; step < steps; ++step) {
      std::vector<float> logits(static_cast<size_t>(batch) * vocab);
      for (float& x : logits) x = nd(lrng);
      logits[3 * vocab + 17] = logits[3 * vocab + 18] = 9.0f;  // a tie at the top
      logits[12 * vocab + eos] = 50.0f;  // ignore_eos must ban it even for greedy
      std::vector<cuda::SampleParams> params(batch);
      std::vector<double> uniform(batch, 0.0);
      std::vector<int32_t> ban_offsets(1, 0), bans;
      std::vector<int32_t> want(batch);
      for (int b = 0; b < batch; ++b) {
        const GenerationConfig& g = cs[b].g;
        params[b] = cuda::SampleParams{g.temperature, g.top_k, g.top_p, g.min_p, g.repetition_penalty,
                                       g.presence_penalty, g.frequency_penalty};
        // The host sampler draws one uniform (rng() >> 11) * 2^-53 per non-greedy sample.
        if (!(g.temperature == 0.0f || g.top_k == 1))
          uniform[b] = static_cast<double>(rngs[b]() >> 11) * 0x1.0p-53;
        const bool before_min = generated[b] < g.min_new_tokens;
        if (g.ignore_eos || before_min) bans.push_back(eos);
        if (before_min) bans.insert(bans.end(), g.stop_token_ids.begin(), g.stop_token_ids.end());
        ban_offsets.push_back(static_cast<int32_t>(bans.size()));
        const float* row = logits.data() + static_cast<size_t>(b) * vocab;
        want[b] = host[b].sample(row, vocab).token;
        not_argmax += want[b] != static_cast<int32_t>(std::max_element(row, row + vocab) - row);
      }
      std::vector<float> work(logits.size());
      std::vector<int32_t> out(batch, -7);
      const cuda::SampleArgs a{logits.data(), vocab,        params.data(),   seen.data(), gen.data(),
                               ban_offsets.data(), bans.data(), uniform.data(), work.data(), out.data(),
                               nullptr};
      cuda::sample(a, batch);
      for (int b = 0; b < batch; ++b) {
        EXPECT_EQ(out[b], want[b]) << "request " << b << " step " << step << " u " << uniform[b];
        ++seen[static_cast<size_t>(b) * vocab + want[b]];
        ++gen[static_cast<size_t>(b) * vocab + want[b]];
        ++generated[b];
      }
      EXPECT_NE(want[12], eos);
    }
    EXPECT_GE(not_argmax, 10);
  });
}

}  // namespace
}  // namespace lmd
