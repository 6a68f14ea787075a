// What RequestSampler hands a device sampler (SamplingBatch) and takes back (accept): the
// parameters, this token's bans, the uniform from the request's own RNG (drawn once per
// token, whichever side chooses it) and the penalty counts as sparse lists.
#include "core/sampling_batch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>

#include "core/error.h"
#include "sampling/sampler.h"

namespace lmd {
namespace {

std::map<int32_t, int32_t> as_map(const std::vector<TokenCount>& v) {
  std::map<int32_t, int32_t> m;
  for (const TokenCount& c : v) {
    EXPECT_EQ(m.count(c.token), 0u) << "token " << c.token << " listed twice";
    m[c.token] = c.count;
  }
  return m;
}

TEST(SamplingBatchTest, DeviceInputsFollowTheRequestsState) {
  GenerationConfig g;
  g.temperature = 0.7f;
  g.top_k = 12;
  g.top_p = 0.9f;
  g.min_p = 0.05f;
  g.repetition_penalty = 1.3f;
  g.presence_penalty = 0.5f;
  g.frequency_penalty = 0.2f;
  g.min_new_tokens = 2;
  g.stop_token_ids = {4, 6};
  g.seed = 3;
  const int32_t eos = 3;
  RequestSampler s(g, eos, {1, 1, 2}, 0);
  const SamplingParams p = s.params();
  EXPECT_EQ(p.temperature, 0.7f);
  EXPECT_EQ(p.top_k, 12);
  EXPECT_EQ(p.top_p, 0.9f);
  EXPECT_EQ(p.min_p, 0.05f);
  EXPECT_EQ(p.repetition_penalty, 1.3f);
  EXPECT_EQ(p.presence_penalty, 0.5f);
  EXPECT_EQ(p.frequency_penalty, 0.2f);

  auto bans = [&] {
    std::vector<int32_t> b;
    s.append_bans(&b);
    std::sort(b.begin(), b.end());
    return b;
  };
  auto seen = [&] {
    std::vector<TokenCount> v;
    s.append_seen(&v);
    return as_map(v);
  };
  auto generated = [&] {
    std::vector<TokenCount> v;
    s.append_generated(&v);
    return as_map(v);
  };
  EXPECT_EQ(bans(), (std::vector<int32_t>{3, 4, 6}));
  EXPECT_EQ(seen(), (std::map<int32_t, int32_t>{{1, 2}, {2, 1}}));
  EXPECT_TRUE(generated().empty());
  s.accept(5);
  EXPECT_EQ(s.generated(), 1);
  EXPECT_EQ(bans(), (std::vector<int32_t>{3, 4, 6}));  // 1 < min_new_tokens
  EXPECT_EQ(seen(), (std::map<int32_t, int32_t>{{1, 2}, {2, 1}, {5, 1}}));
  EXPECT_EQ(generated(), (std::map<int32_t, int32_t>{{5, 1}}));
  s.accept(5);
  EXPECT_TRUE(bans().empty());
  EXPECT_EQ(seen(), (std::map<int32_t, int32_t>{{1, 2}, {2, 1}, {5, 2}}));
  EXPECT_EQ(generated(), (std::map<int32_t, int32_t>{{5, 2}}));

  // No penalties: no counts travel. ignore_eos: eos banned at every token.
  GenerationConfig plain;
  plain.ignore_eos = true;
  RequestSampler q(plain, eos, {1, 2}, 0);
  std::vector<TokenCount> none;
  q.append_seen(&none);
  q.append_generated(&none);
  EXPECT_TRUE(none.empty());
  for (int i = 0; i < 3; ++i) {
    std::vector<int32_t> b;
    q.append_bans(&b);
    EXPECT_EQ(b, std::vector<int32_t>{eos});
    q.accept(7);
  }
}

// Two samplers with the same seed and penalties: A always samples on the host; B, per step,
// either takes A's token as if a device chose it (draw_uniform, accept), or is declined by
// the "device" after drawing (draw_uniform, then sample), or samples plainly. B's uniforms
// are the request RNG's sequence (an independent mt19937_64 here) and its tokens are A's.
TEST(SamplingBatchTest, OneUniformPerTokenWhicheverSideChooses) {
  GenerationConfig g;
  g.temperature = 1.0f;
  g.top_k = 0;
  g.top_p = 0.95f;
  g.repetition_penalty = 1.2f;
  g.frequency_penalty = 0.3f;
  g.min_new_tokens = 5;
  g.seed = 42;
  const int vocab = 50;
  RequestSampler a(g, 0, {3, 4}, 0), b(g, 0, {3, 4}, 0);
  std::mt19937_64 oracle(42);
  std::mt19937 lrng(9);
  std::normal_distribution<float> nd(0.0f, 1.5f);
  std::vector<float> logits(vocab);
  int device = 0, declined = 0, not_argmax = 0;
  for (int step = 0; step < 300; ++step) {
    for (float& x : logits) x = nd(lrng);
    const int32_t want = a.sample(logits.data(), vocab).token;
    not_argmax += want != static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    const double u = static_cast<double>(oracle() >> 11) * 0x1.0p-53;
    switch (step % 3) {
      case 0: {
        EXPECT_EQ(b.draw_uniform(), u) << "step " << step;
        EXPECT_EQ(b.draw_uniform(), u) << "kept until the token is recorded";
        b.accept(want);
        ++device;
        break;
      }
      case 1: {
        EXPECT_EQ(b.draw_uniform(), u) << "step " << step;
        EXPECT_EQ(b.sample(logits.data(), vocab).token, want) << "declined row, step " << step;
        ++declined;
        break;
      }
      default: EXPECT_EQ(b.sample(logits.data(), vocab).token, want) << "host row, step " << step;
    }
  }
  EXPECT_EQ(device, 100);
  EXPECT_EQ(declined, 100);
  EXPECT_GT(not_argmax, 50);
  EXPECT_EQ(a.generated(), b.generated());
}

TEST(SamplingBatchTest, GreedyDrawsNothing) {
  GenerationConfig g;
  g.temperature = 0.0f;
  g.seed = 1;
  RequestSampler s(g, -1, {}, 0);
  EXPECT_EQ(s.draw_uniform(), 0.0);
  GenerationConfig k1;
  k1.top_k = 1;
  k1.seed = 1;
  RequestSampler t(k1, -1, {}, 0);
  EXPECT_EQ(t.draw_uniform(), 0.0);
}

TEST(SamplingBatchTest, RowsAndChecks) {
  GenerationConfig g;
  g.seed = 5;
  g.repetition_penalty = 1.1f;
  g.min_new_tokens = 1;
  g.stop_token_ids = {9};
  RequestSampler s(g, 2, {7, 7, 8}, 0);
  SamplingBatch b;
  s.add_device_row(&b);
  b.add_host_row();
  s.add_device_row(&b);  // the same request again: the uniform drawn for its token is kept
  ASSERT_EQ(b.rows(), 3);
  b.check();
  EXPECT_EQ(b.on_device, (std::vector<uint8_t>{1, 0, 1}));
  EXPECT_EQ(b.params[1].temperature, 0.0f);
  EXPECT_EQ(b.uniform[0], b.uniform[2]);
  EXPECT_EQ(b.ban_offsets, (std::vector<int32_t>{0, 2, 2, 4}));
  EXPECT_EQ(b.seen_offsets, (std::vector<int32_t>{0, 2, 2, 4}));
  EXPECT_EQ(b.generated_offsets, (std::vector<int32_t>{0, 0, 0, 0}));
  b.clear();
  EXPECT_EQ(b.rows(), 0);
  EXPECT_EQ(b.ban_offsets, std::vector<int32_t>{0});
  b.check();

  auto message = [](const SamplingBatch& x) {
    try {
      x.check();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  s.add_device_row(&b);
  SamplingBatch bad = b;
  bad.seen_offsets = {0, 5};
  EXPECT_NE(message(bad).find("seen offsets"), std::string::npos) << message(bad);
  bad = b;
  bad.uniform[0] = -0.5;
  EXPECT_NE(message(bad).find("uniform -0.5"), std::string::npos) << message(bad);
  bad = b;
  bad.params.clear();
  EXPECT_NE(message(bad).find("0 params"), std::string::npos) << message(bad);
}

}  // namespace
}  // namespace lmd
