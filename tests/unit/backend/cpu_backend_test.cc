// CpuBackend pieces: weight repacking is lossless, the model asks supports_op before uploading
// a weight, the thread pool runs every share once and its barrier orders phases, linear's fast
// path tracks the exact path.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <random>
#include <string>

#include "backend/backend.h"
#include "backend/cpu/cpu_weight.h"
#include "common/thread_pool.h"
#include "model/llama.h"
#include "../model/tiny_llama.h"

namespace lmd {
namespace {

TEST(CpuWeight, RepackedRowsEqualCanonicalDequant) {
  for (DType dt : {DType::kInt4, DType::kI8, DType::kF16, DType::kBF16, DType::kF32}) {
    for (int group : {32, 64, 128}) {
      if (dt == DType::kI8 && group != 32) continue;
      testing::TinySpec s;
      s.dtype = dt;
      s.group_size = group;
      std::mt19937 rng(group);
      const WeightTensor w = testing::random_matrix(s, 5, 384, rng, 0.3f);  // 384: padded to 384, 6 super-blocks
      const std::vector<float> ref = w.to_f32();
      const cpu::CpuWeight cw(w);
      std::vector<float> row(384);
      for (int r = 0; r < 5; ++r) {
        cw.row_f32(cpu::kernels(), r, row.data());
        for (int c = 0; c < 384; ++c) ASSERT_EQ(row[c], ref[r * 384 + c]) << dtype_name(dt) << " g" << group;
      }
    }
  }
}

TEST(CpuWeight, RejectsUnsupportedGroup) {
  std::vector<uint8_t> nib(4 * 32 / 2, 0), sm(4 * 2 * 4, 0);
  EXPECT_THROW(cpu::CpuWeight(make_int4(4, 32, 16, nib, sm)), Error);
}

// The model asks its backend (supports_op) about every weight before uploading it, so a
// weight the CPU kernels cannot take is refused at load with the tensor, dtype and backend.
TEST(CpuBackend, ModelLoadAsksSupportsOpAndNamesTheWeight) {
  auto be = create_cpu_backend(CpuBackendOptions{});
  EXPECT_TRUE(be->supports_op(BackendOp::kLinear, DType::kInt4, 64));
  EXPECT_FALSE(be->supports_op(BackendOp::kLinear, DType::kInt4, 16));
  EXPECT_FALSE(be->supports_op(BackendOp::kEmbedding, DType::kI8, 0));
  testing::TinySpec s;
  s.dtype = DType::kInt4;
  s.group_size = 16;
  ModelRuntimeOptions opt;
  opt.kv_num_blocks = 4;
  try {
    create_llama_model(testing::make_tiny_llama(s), opt);
    FAIL() << "an int4 model with group size 16 loaded on the CPU backend";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kUnsupported) << e.what();
    EXPECT_NE(std::string(e.what()).find(
                  "weight tok_embeddings: int4 with group size 16 is not supported by the cpu backend's embedding"),
              std::string::npos)
        << e.what();
  }
}

TEST(ThreadPool, EveryShareRunsOnceAndBarrierOrdersPhases) {
  ThreadPool pool(3);
  std::vector<int> data(1000, 0);
  std::atomic<int> phase_errors{0};
  for (int rep = 0; rep < 200; ++rep) {
    pool.run([&](int tid, int nt) {
      auto [b, e] = ThreadPool::split(1000, tid, nt);
      for (int64_t i = b; i < e; ++i) data[i] += 1;
      pool.barrier();
      // after the barrier every element has been incremented this round
      for (int i = 0; i < 1000; i += 97)
        if (data[i] != rep + 1) phase_errors++;
      pool.barrier();
    });
  }
  EXPECT_EQ(phase_errors.load(), 0);
  for (int v : data) ASSERT_EQ(v, 200);
}

TEST(ThreadPool, SplitCoversRangeAligned) {
  int64_t covered = 0, prev_end = 0;
  for (int t = 0; t < 3; ++t) {
    auto [b, e] = ThreadPool::split(100, t, 3, 16);
    EXPECT_EQ(b, prev_end);
    EXPECT_EQ(b % 16, 0);
    covered += e - b;
    prev_end = e;
  }
  EXPECT_EQ(covered, 100);
}

TEST(CpuBackend, FastLinearTracksExactLinear) {
  testing::TinySpec s;
  s.dtype = DType::kInt4;
  std::mt19937 rng(3);
  const WeightTensor w = testing::random_matrix(s, 70, 256, rng, 0.1f);
  std::vector<float> x(3 * 256);
  std::normal_distribution<float> nd;
  for (auto& v : x) v = nd(rng);
  std::vector<float> bias(70, 0.5f);
  std::vector<float> y_exact(3 * 70), y_fast(3 * 70, 1.0f);
  for (bool exact : {true, false}) {
    auto be = create_cpu_backend(CpuBackendOptions{2, exact});
    auto bw = be->upload_weight(w);
    const LinearOut out{bw.get(), bias.data(), exact ? y_exact.data() : y_fast.data(), 0, !exact};
    be->linear(x.data(), 3, &out, 1);
  }
  // Fast accumulated onto 1.0, exact did not. Rounding each activation to its block's int8
  // grid moves it by at most d/2 (d = block absmax / 127): bound Σ_c |w(r,c)| * d_c / 2.
  const std::vector<float> wf = w.to_f32();
  for (int t = 0; t < 3; ++t) {
    for (int r = 0; r < 70; ++r) {
      double bound = 1e-4;
      for (int b = 0; b < 8; ++b) {
        float amax = 0;
        for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[t * 256 + b * 32 + j]));
        for (int j = 0; j < 32; ++j) bound += std::fabs(wf[r * 256 + b * 32 + j]) * amax / 127 / 2;
      }
      EXPECT_NEAR(y_fast[t * 70 + r] - 1.0f, y_exact[t * 70 + r], bound) << t << "," << r;
    }
  }
}

}  // namespace
}  // namespace lmd
