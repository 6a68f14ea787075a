// Test helpers: tiny random Llama weights (any weight dtype) and a naive float64 forward
// over them (the oracle for the model tests: plain loops, no KV cache, no batching).
#pragma once

#include <cmath>
#include <random>
#include <vector>

#include "kernels/common/half.h"
#include "core/weights.h"

namespace lmd::testing {

struct TinySpec {
  DType dtype = DType::kF32;  // kF32 / kF16 / kBF16 / kInt4 / kI8
  int group_size = 32;
  bool attn_bias = false;
  bool tie = true;
  RopePairing pairing = RopePairing::kHalfSplit;
  int layers = 2, hidden = 64, heads = 4, kv_heads = 2, inter = 96, vocab = 101;
  uint32_t seed = 1;
};

inline WeightTensor random_matrix(const TinySpec& s, int64_t rows, int64_t cols, std::mt19937& rng, float scale) {
  std::normal_distribution<float> nd(0.0f, scale);
  if (s.dtype == DType::kInt4) {
    const int g = s.group_size;
    std::vector<uint8_t> nib(rows * cols / 2, 0), sm;
    for (int64_t i = 0; i < rows * cols; ++i) nib[i / 2] |= static_cast<uint8_t>((rng() % 16) << ((i & 1) * 4));
    for (int64_t i = 0; i < rows * cols / g; ++i) {
      const uint16_t d = f32_to_fp16(scale * 0.6f * (0.5f + static_cast<float>(rng() % 100) / 100.0f));
      const uint16_t m = f32_to_fp16(-7.5f * fp16_to_f32(d));
      for (uint16_t v : {d, m}) {
        sm.push_back(static_cast<uint8_t>(v & 0xff));
        sm.push_back(static_cast<uint8_t>(v >> 8));
      }
    }
    return make_int4(rows, cols, g, std::move(nib), std::move(sm));
  }
  if (s.dtype == DType::kI8) {
    const int g = s.group_size;
    std::vector<uint8_t> q(rows * cols), sc;
    for (auto& v : q) v = static_cast<uint8_t>(rng() % 256);
    for (int64_t i = 0; i < rows * cols / g; ++i) {
      const uint16_t d = f32_to_fp16(scale * 0.02f);
      sc.push_back(static_cast<uint8_t>(d & 0xff));
      sc.push_back(static_cast<uint8_t>(d >> 8));
    }
    return make_int8_grouped(rows, cols, g, std::move(q), std::move(sc));
  }
  std::vector<float> v(rows * cols);
  for (auto& x : v) x = nd(rng);
  return make_dense(s.dtype, {rows, cols}, v.data());
}

inline WeightTensor random_vector(int64_t n, std::mt19937& rng, float mean, float scale) {
  std::normal_distribution<float> nd(mean, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  return make_dense(DType::kF32, {n}, v.data());
}

inline ModelWeights make_tiny_llama(const TinySpec& s) {
  std::mt19937 rng(s.seed);
  ModelWeights w;
  ModelConfig& c = w.config;
  c.head_num = s.heads;
  c.kv_head_num = s.kv_heads;
  c.size_per_head = s.hidden / s.heads;
  c.hidden_units = s.hidden;
  c.vocab_size = s.vocab;
  c.num_layer = s.layers;
  c.inter_size = s.inter;
  c.norm_eps = 1e-5f;
  c.attn_bias = s.attn_bias;
  c.rotary_embedding = c.size_per_head;
  c.rope_theta = 10000.0f;
  c.tie_word_embeddings = s.tie;
  c.rope_pairing = s.pairing;
  c.weight_type = s.dtype;
  const int hd = s.hidden, qd = c.q_dim(), kd = c.kv_dim();
  const float ws = 1.0f / std::sqrt(static_cast<float>(hd));
  w.tok_embeddings = random_matrix(s, s.vocab, hd, rng, 1.0f);
  w.norm = random_vector(hd, rng, 1.0f, 0.1f);
  if (!s.tie) w.output = random_matrix(s, s.vocab, hd, rng, ws);
  for (int l = 0; l < s.layers; ++l) {
    LayerWeights L;
    L.attention_norm = random_vector(hd, rng, 1.0f, 0.1f);
    L.ffn_norm = random_vector(hd, rng, 1.0f, 0.1f);
    L.wq = random_matrix(s, qd, hd, rng, ws);
    L.wk = random_matrix(s, kd, hd, rng, ws);
    L.wv = random_matrix(s, kd, hd, rng, ws);
    L.wo = random_matrix(s, hd, qd, rng, ws);
    L.w1 = random_matrix(s, s.inter, hd, rng, ws);
    L.w3 = random_matrix(s, s.inter, hd, rng, ws);
    L.w2 = random_matrix(s, hd, s.inter, rng, 1.0f / std::sqrt(static_cast<float>(s.inter)));
    if (s.attn_bias) {
      L.bq = random_vector(qd, rng, 0.0f, 0.5f);
      L.bk = random_vector(kd, rng, 0.0f, 0.5f);
      L.bv = random_vector(kd, rng, 0.0f, 0.5f);
    }
    w.layers.push_back(std::move(L));
  }
  return w;
}

// Teacher-forced logits [n, vocab] of one sequence, float64, straight from the paper.
inline std::vector<double> naive_logits(const ModelWeights& w, const std::vector<int32_t>& ids) {
  const ModelConfig& c = w.config;
  const int n = static_cast<int>(ids.size()), hd = c.hidden_units, H = c.head_num, KH = c.kv_head_num;
  const int D = c.size_per_head, qd = c.q_dim(), kd = c.kv_dim(), I = c.inter_size, V = c.vocab_size;
  auto f = [](const WeightTensor& t) {
    std::vector<float> v = t.to_f32();
    return std::vector<double>(v.begin(), v.end());
  };
  auto matvec = [](const std::vector<double>& W, int rows, int cols, const double* x, double* y) {
    for (int r = 0; r < rows; ++r) {
      double a = 0;
      for (int k = 0; k < cols; ++k) a += W[static_cast<size_t>(r) * cols + k] * x[k];
      y[r] = a;
    }
  };
  auto rmsnorm = [&](const double* x, const std::vector<double>& g, double* y) {
    double ss = 0;
    for (int i = 0; i < hd; ++i) ss += x[i] * x[i];
    const double inv = 1.0 / std::sqrt(ss / hd + c.norm_eps);
    for (int i = 0; i < hd; ++i) y[i] = x[i] * inv * g[i];
  };
  auto rope = [&](double* v, int pos) {
    for (int j = 0; j < D / 2; ++j) {
      const double ang = pos * std::pow(static_cast<double>(c.rope_theta), -2.0 * j / D);
      const int a = c.rope_pairing == RopePairing::kHalfSplit ? j : 2 * j;
      const int b = c.rope_pairing == RopePairing::kHalfSplit ? j + D / 2 : 2 * j + 1;
      const double x0 = v[a], x1 = v[b];
      v[a] = x0 * std::cos(ang) - x1 * std::sin(ang);
      v[b] = x1 * std::cos(ang) + x0 * std::sin(ang);
    }
  };
  const std::vector<double> emb = f(w.tok_embeddings);
  std::vector<double> x(static_cast<size_t>(n) * hd);
  for (int t = 0; t < n; ++t)
    for (int i = 0; i < hd; ++i) x[t * hd + i] = emb[static_cast<size_t>(ids[t]) * hd + i];
  std::vector<double> h(hd), q(static_cast<size_t>(n) * qd), k(static_cast<size_t>(n) * kd),
      v(static_cast<size_t>(n) * kd), ao(qd), tmp(std::max(hd, I)), g(I), u(I);
  for (const LayerWeights& L : w.layers) {
    const auto an = f(L.attention_norm), fn = f(L.ffn_norm), wq = f(L.wq), wk = f(L.wk), wv = f(L.wv),
               wo = f(L.wo), w1 = f(L.w1), w3 = f(L.w3), w2 = f(L.w2);
    for (int t = 0; t < n; ++t) {
      rmsnorm(&x[t * hd], an, h.data());
      matvec(wq, qd, hd, h.data(), &q[t * qd]);
      matvec(wk, kd, hd, h.data(), &k[t * kd]);
      matvec(wv, kd, hd, h.data(), &v[t * kd]);
      if (c.attn_bias) {
        const auto bq = f(L.bq), bk = f(L.bk), bv = f(L.bv);
        for (int i = 0; i < qd; ++i) q[t * qd + i] += bq[i];
        for (int i = 0; i < kd; ++i) k[t * kd + i] += bk[i], v[t * kd + i] += bv[i];
      }
      for (int hh = 0; hh < H; ++hh) rope(&q[t * qd + hh * D], t);
      for (int hh = 0; hh < KH; ++hh) rope(&k[t * kd + hh * D], t);
    }
    for (int t = 0; t < n; ++t) {
      for (int hh = 0; hh < H; ++hh) {
        const int kh = hh / (H / KH);
        std::vector<double> s(t + 1);
        double mx = -1e300;
        for (int p = 0; p <= t; ++p) {
          double a = 0;
          for (int j = 0; j < D; ++j) a += q[t * qd + hh * D + j] * k[p * kd + kh * D + j];
          s[p] = a / std::sqrt(static_cast<double>(D));
          mx = std::max(mx, s[p]);
        }
        double sum = 0;
        for (auto& e : s) sum += (e = std::exp(e - mx));
        for (int j = 0; j < D; ++j) {
          double a = 0;
          for (int p = 0; p <= t; ++p) a += s[p] / sum * v[p * kd + kh * D + j];
          ao[hh * D + j] = a;
        }
      }
      matvec(wo, hd, qd, ao.data(), tmp.data());
      for (int i = 0; i < hd; ++i) x[t * hd + i] += tmp[i];
      rmsnorm(&x[t * hd], fn, h.data());
      matvec(w1, I, hd, h.data(), g.data());
      matvec(w3, I, hd, h.data(), u.data());
      for (int i = 0; i < I; ++i) g[i] = g[i] / (1 + std::exp(-g[i])) * u[i];
      matvec(w2, hd, I, g.data(), tmp.data());
      for (int i = 0; i < hd; ++i) x[t * hd + i] += tmp[i];
    }
  }
  const auto nw = f(w.norm), out = f(w.output.empty() ? w.tok_embeddings : w.output);
  std::vector<double> logits(static_cast<size_t>(n) * V);
  for (int t = 0; t < n; ++t) {
    rmsnorm(&x[t * hd], nw, h.data());
    matvec(out, V, hd, h.data(), &logits[static_cast<size_t>(t) * V]);
  }
  return logits;
}

}  // namespace lmd::testing
