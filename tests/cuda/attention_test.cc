// RoPE + KV append (rope_kv_write.cuh) and paged decode attention (decode_attention.cuh)
// under the shim, in every schedule. The KV cache written by the kernel must equal, byte
// for byte, a host store through core/kv_layout.h and kernels/common/kv_quant.h; attention
// must match a double-precision reference that reads the same cache through KvLayout.
// Shapes: GQA ratios 1/3/8, head dims 64/128, f32/f16/int8/int4 KV, partial last blocks,
// block tables with gaps, several splits.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/common/half.h"
#include "kernels/common/kv_quant.h"
#include "kernels/cuda/decode_attention.cuh"
#include "kernels/cuda/rope_kv_write.cuh"
#include "core/step_tables.h"
#include "tests/cuda/schedules.h"
#include "tests/test_util/random.h"

namespace lmd::cuda_test {
namespace {

struct Case {
  int head_num, kv_head_num, head_dim;
  KvKind kind;
};

// Host reference of one K/V row write (the CPU backend's store).
void host_store(const KvLayout& L, uint8_t* block, int layer, int kv, int head, int slot, const float* x) {
  uint8_t* dst = block + L.row_offset(layer, kv, head, slot);
  float* par = L.quantized() ? reinterpret_cast<float*>(block + L.param_offset(layer, kv, head, slot)) : nullptr;
  KvQuantParams p{};
  switch (L.kind) {
    case KvKind::kF32: std::memcpy(dst, x, 4 * L.head_dim); return;
    case KvKind::kF16:
      for (int i = 0; i < L.head_dim; ++i) reinterpret_cast<uint16_t*>(dst)[i] = f32_to_fp16(x[i]);
      return;
    case KvKind::kInt8: p = kv_quantize_row_int8(x, L.head_dim, dst); break;
    case KvKind::kInt4: p = kv_quantize_row_int4(x, L.head_dim, dst); break;
  }
  par[0] = p.scale;
  par[1] = p.zero;
}

float host_load(const KvLayout& L, const uint8_t* block, int layer, int kv, int head, int slot, int i) {
  const uint8_t* row = block + L.row_offset(layer, kv, head, slot);
  const float* par = L.quantized() ? reinterpret_cast<const float*>(block + L.param_offset(layer, kv, head, slot)) : nullptr;
  switch (L.kind) {
    case KvKind::kF32: return reinterpret_cast<const float*>(row)[i];
    case KvKind::kF16: return fp16_to_f32(reinterpret_cast<const uint16_t*>(row)[i]);
    case KvKind::kInt8: return kv_dequantize_value(row[i], par[0], par[1]);
    case KvKind::kInt4: return kv_dequantize_value(i % 2 ? row[i / 2] >> 4 : row[i / 2] & 15, par[0], par[1]);
  }
  return 0;
}

void host_rope(float* x, const float* cs, const float* sn, int rot_dim, bool adjacent) {
  const int half = rot_dim / 2;
  for (int j = 0; j < half; ++j) {
    const int i0 = adjacent ? 2 * j : j, i1 = adjacent ? 2 * j + 1 : j + half;
    const float a = x[i0], b = x[i1];
    x[i0] = a * cs[j] - b * sn[j];
    x[i1] = b * cs[j] + a * sn[j];
  }
}

void run_case(const Case& c, bool adjacent) {
  const int layer = 1;
  KvLayout L;
  L.num_layer = 2;
  L.kv_head_num = c.kv_head_num;
  L.head_dim = c.head_dim;
  L.block_len = 16;
  L.kind = c.kind;
  const std::vector<int> lens = {1, 17, 50, 100};  // partial last blocks
  // Block tables with gaps and out of order; blocks 0, 2 and 5 are never used.
  const std::vector<std::vector<int32_t>> tables = {{9}, {3, 13}, {16, 1, 11, 7}, {4, 6, 8, 10, 12, 14, 15}};
  const int num_blocks = 17;
  const int rot_dim = c.head_dim - 16;  // partial rotary
  const int hd = c.head_dim, qd = c.head_num * hd, kd = c.kv_head_num * hd;

  // Every position of every sequence is one token of the write step.
  std::vector<int32_t> pos, blk, slot;
  for (size_t s = 0; s < lens.size(); ++s) {
    for (int p = 0; p < lens[s]; ++p) {
      pos.push_back(p);
      blk.push_back(tables[s][p / L.block_len]);
      slot.push_back(p % L.block_len);
    }
  }
  const int n = static_cast<int>(pos.size());
  std::vector<float> cs(static_cast<size_t>(n) * rot_dim / 2), sn(cs.size()), logn(n);
  rope_tables(pos.data(), n, rot_dim, 10000.0, 0.0f, 2048, 100, cs.data(), sn.data());
  for (int t = 0; t < n; ++t) logn[t] = 1.0f + 0.001f * t;
  const std::vector<float> q0 = test_util::uniform(static_cast<size_t>(n) * qd, 1, -1.5f, 1.5f),
                           k0 = test_util::uniform(static_cast<size_t>(n) * kd, 2, -1.5f, 1.5f),
                           v0 = test_util::uniform(static_cast<size_t>(n) * kd, 3, -1.5f, 1.5f);

  // Host reference: rotated q, k and the cache.
  std::vector<float> q_ref = q0, k_ref = k0;
  std::vector<uint8_t> cache_ref(L.block_bytes() * num_blocks, 0);
  for (int t = 0; t < n; ++t) {
    const float* ct = cs.data() + static_cast<size_t>(t) * rot_dim / 2;
    const float* st = sn.data() + static_cast<size_t>(t) * rot_dim / 2;
    for (int h = 0; h < c.head_num; ++h) {
      float* x = q_ref.data() + static_cast<size_t>(t) * qd + h * hd;
      host_rope(x, ct, st, rot_dim, adjacent);
      for (int i = 0; i < hd; ++i) x[i] *= logn[t];
    }
    for (int h = 0; h < c.kv_head_num; ++h) {
      float* x = k_ref.data() + static_cast<size_t>(t) * kd + h * hd;
      host_rope(x, ct, st, rot_dim, adjacent);
      uint8_t* block = cache_ref.data() + L.block_bytes() * blk[t];
      host_store(L, block, layer, 0, h, slot[t], x);
      host_store(L, block, layer, 1, h, slot[t], v0.data() + static_cast<size_t>(t) * kd + h * hd);
    }
  }

  for_each_schedule([&] {
    std::vector<float> q = q0, k = k0;
    std::vector<uint8_t> cache(L.block_bytes() * num_blocks, 0);
    cuda::RopeKvArgs a{q.data(), k.data(), v0.data(), cs.data(), sn.data(), logn.data(), blk.data(), slot.data(),
                       cache.data(), cuda::KvView::of(L), layer, n, c.head_num, rot_dim, adjacent};
    cuda::rope_kv_write(a);
    ASSERT_EQ(q, q_ref);
    ASSERT_EQ(k, k_ref);
    ASSERT_EQ(cache, cache_ref) << "KV cache bytes differ from the host store";

    // Decode: one query row per sequence, attending to its whole cached prefix.
    const int rows = static_cast<int>(lens.size());
    std::vector<int32_t> kv_len(lens.begin(), lens.end()), offsets, flat;
    for (const auto& t : tables) {
      offsets.push_back(static_cast<int32_t>(flat.size()));
      flat.insert(flat.end(), t.begin(), t.end());
    }
    const std::vector<float> qd_rows = test_util::uniform(static_cast<size_t>(rows) * qd, 4, -1.5f, 1.5f);
    const int split_len = 32;
    const int num_splits = (100 + split_len - 1) / split_len;
    std::vector<float> out(static_cast<size_t>(rows) * qd), part_o(static_cast<size_t>(rows) * c.head_num * num_splits * hd),
        part_ml(static_cast<size_t>(rows) * c.head_num * num_splits * 2);
    const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
    cuda::AttentionArgs at{qd_rows.data(), out.data(), kv_len.data(), offsets.data(), flat.data(), cache.data(),
                           cuda::KvView::of(L), layer, rows, c.head_num, scale, split_len, num_splits,
                           part_o.data(), part_ml.data()};
    cuda::decode_attention(at);
    const int group = c.head_num / c.kv_head_num;
    for (int r = 0; r < rows; ++r) {
      for (int h = 0; h < c.head_num; ++h) {
        const float* qv = qd_rows.data() + static_cast<size_t>(r) * qd + h * hd;
        std::vector<double> s(lens[r]);
        double big = -1e300;
        for (int p = 0; p < lens[r]; ++p) {
          const uint8_t* block = cache.data() + L.block_bytes() * tables[r][p / L.block_len];
          double d = 0;
          for (int i = 0; i < hd; ++i) d += static_cast<double>(qv[i]) * host_load(L, block, layer, 0, h / group, p % L.block_len, i);
          s[p] = d * scale;
          big = std::max(big, s[p]);
        }
        double sum = 0;
        for (double& x : s) sum += (x = std::exp(x - big));
        for (int i = 0; i < hd; ++i) {
          double o = 0;
          for (int p = 0; p < lens[r]; ++p) {
            const uint8_t* block = cache.data() + L.block_bytes() * tables[r][p / L.block_len];
            o += s[p] * host_load(L, block, layer, 1, h / group, p % L.block_len, i);
          }
          ASSERT_NEAR(out[static_cast<size_t>(r) * qd + h * hd + i], o / sum, 2e-5) << "row " << r << " head " << h << " i " << i;
        }
      }
    }
  });
}

class CudaAttention : public ::testing::TestWithParam<Case> {};

TEST_P(CudaAttention, RopeKvWriteAndDecodeMatchReference) { run_case(GetParam(), false); }

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (auto [h, kvh] : {std::pair{4, 4}, std::pair{6, 2}, std::pair{8, 1}})
    for (int d : {64, 128})
      for (KvKind k : {KvKind::kF32, KvKind::kF16, KvKind::kInt8, KvKind::kInt4}) cases.push_back({h, kvh, d, k});
  return cases;
}

std::string case_name(const ::testing::TestParamInfo<Case>& i) {
  static const char* kinds[] = {"f32", "f16", "int8", "int4"};
  return "gqa" + std::to_string(i.param.head_num / i.param.kv_head_num) + "_d" + std::to_string(i.param.head_dim) + "_" +
         kinds[static_cast<int>(i.param.kind)];
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaAttention, ::testing::ValuesIn(all_cases()), case_name);

TEST(CudaRope, AdjacentPairing) { run_case({6, 2, 64, KvKind::kInt8}, true); }

TEST(CudaRope, DynamicNtkGrowsTheBase) {
  const int rot = 64, max_pos = 128;
  const int32_t p = 300;
  std::vector<float> c1(rot / 2), s1(rot / 2), c2(rot / 2), s2(rot / 2);
  rope_tables(&p, 1, rot, 10000.0, 2.0f, max_pos, 100, c1.data(), s1.data());  // within context: plain
  rope_tables(&p, 1, rot, 10000.0, 2.0f, max_pos, 301, c2.data(), s2.data());  // beyond: NTK
  const double base = 10000.0 * std::pow(2.0 * 301 / max_pos - 1.0, static_cast<double>(rot) / (rot - 2));
  for (int j = 0; j < rot / 2; ++j) {
    const float plain = static_cast<float>(p) * static_cast<float>(1.0 / std::pow(10000.0, 2.0 * j / rot));
    const float ntk = static_cast<float>(p) * static_cast<float>(1.0 / std::pow(base, 2.0 * j / rot));
    EXPECT_EQ(c1[j], static_cast<float>(std::cos(static_cast<double>(plain))));
    EXPECT_EQ(s2[j], static_cast<float>(std::sin(static_cast<double>(ntk))));
  }
  EXPECT_NE(c1[5], c2[5]);
}

}  // namespace
}  // namespace lmd::cuda_test
