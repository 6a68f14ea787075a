#include "sampling/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "core/error.h"
#include "sampling/stop_strings.h"

namespace lmd {
namespace {

GenerationConfig sampled(uint64_t seed) {
  GenerationConfig g;
  g.temperature = 1.0f;
  g.top_k = 0;
  g.top_p = 1.0f;
  g.seed = seed;
  return g;
}

TEST(SamplerTest, GreedyAndTemperatureZero) {
  GenerationConfig g;
  g.temperature = 0.0f;
  RequestSampler s(g, -1, {}, 0);
  const float logits[5] = {0.1f, 2.0f, 1.9f, -1.0f, 0.0f};
  EXPECT_EQ(s.sample(logits, 5).token, 1);
}

TEST(SamplerTest, RepetitionPenaltyAndEosBan) {
  GenerationConfig g;
  g.temperature = 0.0f;
  g.repetition_penalty = 2.0f;  // 2.0 -> 1.0 for the seen token 1
  RequestSampler s(g, -1, {1}, 0);
  const float logits[3] = {0.0f, 2.0f, 1.5f};
  EXPECT_EQ(s.sample(logits, 3).token, 2);
  GenerationConfig e;
  e.temperature = 0.0f;
  e.min_new_tokens = 1;
  RequestSampler m(e, /*eos=*/1, {}, 0);
  EXPECT_EQ(m.sample(logits, 3).token, 2);  // eos banned for the first token
  EXPECT_EQ(m.sample(logits, 3).token, 1);  // then allowed
}

TEST(SamplerTest, PresenceAndFrequencyPenalties) {
  GenerationConfig g;
  g.temperature = 0.0f;
  g.frequency_penalty = 1.0f;
  RequestSampler s(g, -1, {}, 0);
  const float logits[2] = {1.5f, 0.0f};
  EXPECT_EQ(s.sample(logits, 2).token, 0);  // 0 now has count 1: 1.5 - 1 = 0.5
  EXPECT_EQ(s.sample(logits, 2).token, 0);  // count 2: 1.5 - 2 < 0
  EXPECT_EQ(s.sample(logits, 2).token, 1);
}

// Empirical frequencies follow softmax(logits / T) restricted by top-k / top-p / min-p.
TEST(SamplerTest, DistributionsOfFilters) {
  const float logits[4] = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
  auto freq = [&](GenerationConfig g) {
    RequestSampler s(g, -1, {}, 0);
    std::map<int, int> n;
    for (int i = 0; i < 20000; ++i) {
      // Fresh counts each draw would need a new sampler; penalties are off so history is inert.
      ++n[s.sample(logits, 4).token];
    }
    return n;
  };
  auto all = freq(sampled(1));
  EXPECT_NEAR(all[0] / 20000.0, 0.5, 0.02);
  EXPECT_NEAR(all[3] / 20000.0, 0.05, 0.01);
  GenerationConfig k = sampled(2);
  k.top_k = 2;
  auto top2 = freq(k);
  EXPECT_EQ(top2[2] + top2[3], 0);
  EXPECT_NEAR(top2[0] / 20000.0, 0.5 / 0.8, 0.02);
  GenerationConfig p = sampled(3);
  p.top_p = 0.7f;  // 0.5 + 0.3 reaches 0.7
  auto topp = freq(p);
  EXPECT_EQ(topp[2] + topp[3], 0);
  GenerationConfig mp = sampled(4);
  mp.min_p = 0.5f;  // keep p >= 0.25
  auto minp = freq(mp);
  EXPECT_EQ(minp[2] + minp[3], 0);
  EXPECT_GT(minp[1], 0);
}

TEST(SamplerTest, SameSeedSameTokens) {
  std::vector<float> logits(50);
  for (int i = 0; i < 50; ++i) logits[i] = std::sin(i * 1.3f);
  auto run = [&](uint64_t seed) {
    RequestSampler s(sampled(seed), -1, {}, 0);
    std::vector<int32_t> out;
    for (int i = 0; i < 40; ++i) out.push_back(s.sample(logits.data(), 50).token);
    return out;
  };
  EXPECT_EQ(run(5), run(5));
  EXPECT_NE(run(5), run(6));
}

TEST(SamplerTest, ValidateNamesFieldAndValue) {
  GenerationConfig g;
  g.top_p = 1.5f;
  try {
    validate(g);
    FAIL() << "top_p 1.5 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("top_p"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("1.5"), std::string::npos);
  }
  g = GenerationConfig{};
  g.temperature = -1.0f;
  EXPECT_THROW(validate(g), Error);
  g = GenerationConfig{};
  g.top_k = -2;
  EXPECT_THROW(validate(g), Error);
  g = GenerationConfig{};
  g.min_p = -0.1f;
  EXPECT_THROW(validate(g), Error);
  EXPECT_NO_THROW(validate(GenerationConfig{}));
}

TEST(StopStringMatcherTest, HoldsBackPossibleStarts) {
  StopStringMatcher m({"</s>", "END"});
  EXPECT_EQ(m.push("Hello <"), "Hello ");
  EXPECT_EQ(m.push("/"), "");
  EXPECT_EQ(m.push("x"), "</x");  // not a stop string after all
  EXPECT_EQ(m.push(" E"), " ");
  EXPECT_EQ(m.push("NDtail"), "");
  EXPECT_TRUE(m.matched());
  StopStringMatcher n({"ab"});
  EXPECT_EQ(n.push("xa"), "x");
  EXPECT_EQ(n.flush(), "a");
}

}  // namespace
}  // namespace lmd
