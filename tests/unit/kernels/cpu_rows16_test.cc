// PackLayout::kRows16 (cpu_kernels.h): the same logical weights packed in both layouts.
// The scalar reference reads both through the position helpers in the same order, so it
// must give identical bits for both; every ISA's kernels on kRows16 must match the
// reference (bit-exact for dequant, within float summation-order tolerance for GEMMs),
// including rows not a multiple of 16, sub-ranges of rows, ragged columns, T = 1..17 and
// source groups of 32 / 64 / 128 values (a group's (d, m) repeated over its 32-blocks).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "kernels/common/half.h"
#include "kernels/cpu/cpu_kernels.h"

namespace lmd::cpu {
namespace {

std::vector<CpuIsa> all_isas() {
  std::vector<CpuIsa> v{CpuIsa::kScalar};
  if (detected_cpu_isa() >= CpuIsa::kAvx2) v.push_back(CpuIsa::kAvx2);
  if (detected_cpu_isa() >= CpuIsa::kAvx512) v.push_back(CpuIsa::kAvx512);
  return v;
}

// Random logical int4 / int8 codes and per-group scales, packable in either layout.
struct Logical {
  int64_t rows, cols, group;
  std::vector<int> q;          // [rows][cols]
  std::vector<uint16_t> d, m;  // [rows][cols / group]
  Logical(int64_t rows_, int64_t cols_, int64_t group_, bool int4, uint32_t seed)
      : rows(rows_), cols(cols_), group(group_) {
    std::mt19937 rng(seed);
    q.resize(rows * cols);
    for (int& v : q) v = int4 ? static_cast<int>(rng() % 16) : static_cast<int>(rng() % 256) - 128;
    const int64_t ng = (cols + group - 1) / group;
    for (int64_t i = 0; i < rows * ng; ++i) {
      d.push_back(f32_to_fp16(0.002f + 0.02f * static_cast<float>(rng() % 100) / 100.0f));
      m.push_back(f32_to_fp16(-0.1f * static_cast<float>(rng() % 100) / 100.0f));
    }
  }
};

struct Packed4 {
  std::vector<uint8_t> qs;
  std::vector<uint16_t> d, m;
  PackedInt4 w;
  Packed4(const Logical& L, PackLayout l) {
    const int64_t cp = pad_cols(L.cols), nblk = cp / kBlock, pr = packed_rows(l, L.rows);
    const int64_t ng = (L.cols + L.group - 1) / L.group;
    qs.assign(pr * cp / 2, 0);
    d.assign(pr * nblk, 0);
    m.assign(pr * nblk, 0);
    for (int64_t r = 0; r < L.rows; ++r) {
      for (int64_t c = 0; c < L.cols; ++c) {
        int shift = 0;
        const int64_t p = q4_pos(l, cp, r, c, &shift);
        qs[p] |= static_cast<uint8_t>(L.q[r * L.cols + c] << shift);
      }
      for (int64_t b = 0; b * kBlock < L.cols; ++b) {
        d[scale_pos(l, cp, r, b)] = L.d[r * ng + b * kBlock / L.group];
        m[scale_pos(l, cp, r, b)] = L.m[r * ng + b * kBlock / L.group];
      }
    }
    w = PackedInt4{L.rows, L.cols, cp, qs.data(), d.data(), m.data(), l};
  }
};

struct Packed8 {
  std::vector<int8_t> qs;
  std::vector<uint16_t> d;
  PackedInt8 w;
  Packed8(const Logical& L, PackLayout l) {
    const int64_t cp = pad_cols(L.cols), nblk = cp / kBlock, pr = packed_rows(l, L.rows);
    const int64_t ng = (L.cols + L.group - 1) / L.group;
    qs.assign(pr * cp, 0);
    d.assign(pr * nblk, 0);
    for (int64_t r = 0; r < L.rows; ++r) {
      for (int64_t c = 0; c < L.cols; ++c) qs[q8_pos(l, cp, r, c)] = static_cast<int8_t>(L.q[r * L.cols + c]);
      for (int64_t b = 0; b * kBlock < L.cols; ++b) d[scale_pos(l, cp, r, b)] = L.d[r * ng + b * kBlock / L.group];
    }
    w = PackedInt8{L.rows, L.cols, cp, qs.data(), d.data(), l};
  }
};

struct Acts {
  std::vector<int8_t> q;
  std::vector<float> d, s;
  QuantActs a;
  Acts(int64_t n, int64_t cols, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> x(n * cols);
    for (float& v : x) v = nd(rng);
    const int64_t cp = pad_cols(cols), nblk = cp / kBlock;
    q.assign(n * cp, 0);
    d.assign(n * nblk, 0);
    s.assign(n * nblk, 0);
    for (int64_t t = 0; t < n; ++t)
      reference_kernels().quantize_row_q8(x.data() + t * cols, cols, cp, q.data() + t * cp, d.data() + t * nblk,
                                          s.data() + t * nblk);
    a = QuantActs{n, cp, q.data(), d.data(), s.data()};
  }
};

float max_abs(const std::vector<float>& v) {
  float m = 0;
  for (float x : v) m = std::max(m, std::fabs(x));
  return m;
}

constexpr float kSentinel = -12345.0f;

// Runs gemm on rows [r0, r1) of both layouts; y is [n][ldy = rows + 3] pre-filled with a sentinel.
using GemmFn = std::function<void(int64_t r0, int64_t r1, float* y, int64_t ldy)>;

void check_gemm(const char* what, const GemmFn& gemm_ref_rows, const GemmFn& gemm_isa_rows16, int64_t rows, int64_t n, int64_t r0,
                int64_t r1, const std::string& ctx) {
  const int64_t ldy = rows + 3;
  std::vector<float> ref(n * ldy, kSentinel), got(n * ldy, kSentinel);
  gemm_ref_rows(r0, r1, ref.data(), ldy);
  gemm_isa_rows16(r0, r1, got.data(), ldy);
  const float tol = 2e-5f * max_abs(ref) + 1e-6f;
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t r = 0; r < ldy; ++r) {
      const float a = ref[t * ldy + r], b = got[t * ldy + r];
      if (r < r0 || r >= r1) {
        ASSERT_EQ(b, kSentinel) << what << " wrote outside its rows: " << ctx << " t " << t << " r " << r;
        continue;
      }
      ASSERT_NEAR(a, b, tol) << what << " " << ctx << " t " << t << " r " << r;
    }
  }
}

TEST(CpuRows16, ReferenceGivesSameBitsInBothLayouts) {
  for (int64_t rows : {1, 17, 40}) {
    for (int64_t cols : {32, 100, 576}) {
      const Logical L4(rows, cols, 32, true, 3), L8(rows, cols, 32, false, 4);
      const Packed4 a4(L4, PackLayout::kRows), b4(L4, PackLayout::kRows16);
      const Packed8 a8(L8, PackLayout::kRows), b8(L8, PackLayout::kRows16);
      const Acts x(5, cols, 9);
      std::vector<float> ya(5 * rows), yb(5 * rows);
      reference_kernels().gemm_q4_q8(a4.w, 0, rows, x.a, ya.data(), rows);
      reference_kernels().gemm_q4_q8(b4.w, 0, rows, x.a, yb.data(), rows);
      EXPECT_EQ(ya, yb) << "q4 rows " << rows << " cols " << cols;
      reference_kernels().gemm_q8_q8(a8.w, 0, rows, x.a, ya.data(), rows);
      reference_kernels().gemm_q8_q8(b8.w, 0, rows, x.a, yb.data(), rows);
      EXPECT_EQ(ya, yb) << "q8 rows " << rows << " cols " << cols;
    }
  }
}

TEST(CpuRows16, GemmQ4Q8MatchesReference) {
  for (CpuIsa isa : all_isas()) {
    for (int64_t group : {32, 64, 128}) {
      for (int64_t cols : {group, 3 * group, int64_t{576}, int64_t{100}}) {
        if (cols % group != 0 && cols != 100) continue;
        for (int64_t rows : {5, 16, 37}) {
          const Logical L(rows, cols, group, true, static_cast<uint32_t>(rows * 7 + cols));
          const Packed4 wr(L, PackLayout::kRows), w16(L, PackLayout::kRows16);
          for (int64_t n : {1, 2, 3, 4, 5, 6, 7, 8, 9, 17}) {
            const Acts x(n, cols, static_cast<uint32_t>(n + 100));
            for (auto [r0, r1] : {std::pair<int64_t, int64_t>{0, rows}, {rows / 3, rows - rows / 4}}) {
              if (r0 >= r1) continue;
              const std::string ctx = std::string(cpu_isa_name(isa)) + " group " + std::to_string(group) + " cols " +
                                      std::to_string(cols) + " rows " + std::to_string(rows) + " n " +
                                      std::to_string(n) + " [" + std::to_string(r0) + "," + std::to_string(r1) + ")";
              const GemmFn fr = [&](int64_t a, int64_t b, float* y, int64_t ldy) {
                reference_kernels().gemm_q4_q8(wr.w, a, b, x.a, y, ldy);
              };
              const GemmFn fg = [&](int64_t a, int64_t b, float* y, int64_t ldy) {
                kernels_for(isa).gemm_q4_q8(w16.w, a, b, x.a, y, ldy);
              };
              check_gemm("gemm_q4_q8", fr, fg, rows, n, r0, r1, ctx);
              if (::testing::Test::HasFatalFailure()) return;
            }
          }
        }
      }
    }
  }
}

TEST(CpuRows16, GemmQ8Q8MatchesReference) {
  for (CpuIsa isa : all_isas()) {
    for (int64_t cols : {32, 160, 576, 100}) {
      for (int64_t rows : {3, 16, 33}) {
        const Logical L(rows, cols, 32, false, static_cast<uint32_t>(rows + cols));
        const Packed8 wr(L, PackLayout::kRows), w16(L, PackLayout::kRows16);
        for (int64_t n : {1, 2, 4, 7, 8, 9}) {
          const Acts x(n, cols, static_cast<uint32_t>(n + 50));
          for (auto [r0, r1] : {std::pair<int64_t, int64_t>{0, rows}, {1, rows - 1}}) {
            if (r0 >= r1) continue;
            const std::string ctx = std::string(cpu_isa_name(isa)) + " cols " + std::to_string(cols) + " rows " +
                                    std::to_string(rows) + " n " + std::to_string(n);
            const GemmFn fr = [&](int64_t a, int64_t b, float* y, int64_t ldy) {
              reference_kernels().gemm_q8_q8(wr.w, a, b, x.a, y, ldy);
            };
            const GemmFn fg = [&](int64_t a, int64_t b, float* y, int64_t ldy) {
              kernels_for(isa).gemm_q8_q8(w16.w, a, b, x.a, y, ldy);
            };
            check_gemm("gemm_q8_q8", fr, fg, rows, n, r0, r1, ctx);
            if (::testing::Test::HasFatalFailure()) return;
          }
        }
      }
    }
  }
}

// The int32 block dots are exact: with one block per row, d_x = d_w = 1 and m = 0 the
// result is the integer dot product itself, for every T.
TEST(CpuRows16, BlockDotIsExactInteger) {
  const int64_t rows = 19, cols = 32;
  Logical L(rows, cols, 32, true, 5);
  for (auto& d : L.d) d = f32_to_fp16(1.0f);
  for (auto& m : L.m) m = 0;
  const Packed4 w(L, PackLayout::kRows16);
  for (int64_t n : {1, 8, 9}) {
    std::vector<int8_t> q(n * 64);
    std::mt19937 rng(7);
    for (int8_t& v : q) v = static_cast<int8_t>(static_cast<int>(rng() % 255) - 127);
    std::vector<float> d(n * 2, 1.0f), s(n * 2, 0.0f);
    const QuantActs x{n, 64, q.data(), d.data(), s.data()};
    for (CpuIsa isa : all_isas()) {
      std::vector<float> y(n * rows);
      kernels_for(isa).gemm_q4_q8(w.w, 0, rows, x, y.data(), rows);
      for (int64_t t = 0; t < n; ++t)
        for (int64_t r = 0; r < rows; ++r) {
          int dot = 0;
          for (int64_t c = 0; c < cols; ++c) dot += L.q[r * cols + c] * q[t * 64 + c];
          ASSERT_EQ(y[t * rows + r], static_cast<float>(dot)) << cpu_isa_name(isa) << " t " << t << " r " << r;
        }
    }
  }
}

TEST(CpuRows16, DequantRowsAreBitExact) {
  for (CpuIsa isa : all_isas()) {
    for (int64_t cols : {64, 100, 576}) {
      const Logical L4(20, cols, 32, true, 1), L8(20, cols, 32, false, 2);
      const Packed4 a4(L4, PackLayout::kRows), b4(L4, PackLayout::kRows16);
      const Packed8 a8(L8, PackLayout::kRows), b8(L8, PackLayout::kRows16);
      std::vector<float> a(cols), b(cols);
      for (int64_t r : {0, 15, 16, 19}) {
        reference_kernels().dequant_row_q4(a4.w, r, a.data());
        kernels_for(isa).dequant_row_q4(b4.w, r, b.data());
        EXPECT_EQ(a, b) << cpu_isa_name(isa) << " q4 cols " << cols << " r " << r;
        reference_kernels().dequant_row_q8(a8.w, r, a.data());
        kernels_for(isa).dequant_row_q8(b8.w, r, b.data());
        EXPECT_EQ(a, b) << cpu_isa_name(isa) << " q8 cols " << cols << " r " << r;
      }
    }
  }
}

}  // namespace
}  // namespace lmd::cpu
