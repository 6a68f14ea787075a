#include "lite/awq.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "backend/backend.h"
#include "core/error.h"
#include "common/logging.h"
#include "common/progress.h"
#include "convert/load_model.h"
#include "kernels/common/half.h"
#include "lite/awq_pack.h"
#include "lite/awq_writer.h"
#include "lite/calib_stats.h"
#include "lite/calibrate.h"
#include "lite/lite_model.h"

namespace fs = std::filesystem;

namespace lmd::lite {
namespace {

// Y [n, rows] = X [n, cols] W^T on the CPU backend in fp32 (device memory == host).
class Matmul {
 public:
  explicit Matmul(int threads) : be_(create_cpu_backend(CpuBackendOptions{threads, /*exact=*/true})) {}
  void run(const std::vector<float>& x, int n, const std::vector<float>& w, int64_t rows, int64_t cols,
           std::vector<float>* y) {
    const WeightTensor t = make_dense(DType::kF32, {rows, cols}, w.data());
    const auto bw = be_->upload_weight(t);
    float* dx = static_cast<float*>(be_->alloc(x.size() * 4));
    float* dy = static_cast<float*>(be_->alloc(static_cast<size_t>(n) * rows * 4));
    be_->copy_to_device(dx, x.data(), x.size() * 4);
    const LinearOut o{bw.get(), nullptr, dy, 0, false};
    be_->linear(dx, n, &o, 1);
    y->resize(static_cast<size_t>(n) * rows);
    be_->copy_to_host(y->data(), dy, y->size() * 4);
    be_->free(dx);
    be_->free(dy);
  }

 private:
  std::unique_ptr<Backend> be_;
};

std::vector<float> stack_rows(const std::vector<std::vector<float>*>& ws) {
  std::vector<float> out;
  for (auto* w : ws) out.insert(out.end(), w->begin(), w->end());
  return out;
}

double mse(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
  return s / static_cast<double>(a.size());
}

struct LayerF32 {
  std::vector<float> attention_norm, ffn_norm, wq, wk, wv, bv, wo, w1, w3, w2;
};

// Searches s for one pair. Returns s (empty = no scaling) and fills the result's losses.
std::vector<float> search_pair(Matmul& mm, const std::vector<float>& x, int n, const std::vector<float>& absmean,
                               const std::vector<float>& w, int64_t rows, int64_t cols, int group, bool search,
                               AwqPairResult* r) {
  r->alpha = -1;
  if (!search) return {};
  std::vector<float> ref, y;
  mm.run(x, n, w, rows, cols, &ref);
  std::vector<float> wq = w;
  fake_quantize(wq.data(), rows, cols, group);
  mm.run(x, n, wq, rows, cols, &y);
  r->loss_rtn = r->loss_best = mse(ref, y);
  // w_scale[c] = mean over rows of |w| / group max |w|
  std::vector<double> wsc(static_cast<size_t>(cols), 0.0);
  for (int64_t rr = 0; rr < rows; ++rr)
    for (int64_t c0 = 0; c0 < cols; c0 += group) {
      const float* g = w.data() + rr * cols + c0;
      float mx = 0;
      for (int i = 0; i < group; ++i) mx = std::max(mx, std::fabs(g[i]));
      for (int i = 0; i < group; ++i) wsc[c0 + i] += mx > 0 ? std::fabs(g[i]) / mx : 0.0;
    }
  for (auto& v : wsc) v /= static_cast<double>(rows);
  std::vector<float> best;
  std::vector<float> s(static_cast<size_t>(cols)), xs(x.size()), ws(w.size());
  for (int step = 0; step < 20; ++step) {
    const double a = step * 0.05;
    double smax = 0, smin = INFINITY;
    for (int64_t c = 0; c < cols; ++c) {
      double v = std::pow(std::max<double>(absmean[c], 1e-12), a) / std::pow(std::max(wsc[c], 1e-12), 1.0 - a);
      v = std::max(v, 1e-4);
      s[c] = static_cast<float>(v);
      smax = std::max(smax, v);
      smin = std::min(smin, v);
    }
    const float norm = static_cast<float>(std::sqrt(smax * smin));
    for (auto& v : s) v /= norm;
    for (int64_t rr = 0; rr < rows; ++rr)
      for (int64_t c = 0; c < cols; ++c) ws[rr * cols + c] = w[rr * cols + c] * s[c];
    fake_quantize(ws.data(), rows, cols, group);
    for (int t = 0; t < n; ++t)
      for (int64_t c = 0; c < cols; ++c) xs[t * cols + c] = x[t * cols + c] / s[c];
    mm.run(xs, n, ws, rows, cols, &y);
    const double l = mse(ref, y);
    if (l < r->loss_best) {
      r->loss_best = l;
      r->alpha = static_cast<float>(a);
      best = s;
    }
  }
  return best;
}

WeightTensor dense_f32(const std::vector<float>& v, std::vector<int64_t> shape) {
  return make_dense(DType::kF32, std::move(shape), v.data());
}

WeightTensor int4_tensor(const QuantizedLinear& ql) {
  // Ours: w = q * scale + min, min = fp16(-zero * scale) (as convert's AWQ reader does).
  const int64_t groups = ql.in / ql.group;
  std::vector<uint8_t> nib(static_cast<size_t>(ql.out * ql.in / 2), 0);
  for (int64_t i = 0; i < ql.out * ql.in; ++i) nib[i / 2] |= static_cast<uint8_t>((i & 1) ? ql.q[i] << 4 : ql.q[i]);
  std::vector<uint8_t> sm(static_cast<size_t>(ql.out * groups * 4));
  for (int64_t i = 0; i < ql.out * groups; ++i) {
    const uint16_t s = ql.scales[i];
    const uint16_t m = f32_to_fp16(-static_cast<float>(ql.zeros[i]) * fp16_to_f32(s));
    std::memcpy(sm.data() + i * 4, &s, 2);
    std::memcpy(sm.data() + i * 4 + 2, &m, 2);
  }
  return make_int4(ql.out, ql.in, ql.group, std::move(nib), std::move(sm));
}

}  // namespace

void check_awq_shapes(const ModelConfig& c, int g, const std::string& model) {
  const int64_t h = c.hidden_units, qd = c.q_dim(), kd = c.kv_dim(), inter = c.inter_size;
  for (auto [out, in] : {std::pair<int64_t, int64_t>{qd, h}, {kd, h}, {h, qd}, {inter, h}, {h, inter}}) {
    LMD_CHECK(g > 0 && in % g == 0) << "--w_group_size " << g << " does not divide the " << in
                                    << " input features of a [" << out << ", " << in << "] linear of " << model
                                    << "; choose a group size that divides " << in;
    LMD_CHECK(out % 8 == 0) << "AWQ packing needs output features divisible by 8, got [" << out << ", " << in << "]";
  }
}

AwqResult awq_quantize(const ModelWeights& w, const std::vector<std::vector<std::vector<float>>>& inputs,
                       const std::vector<std::vector<std::vector<float>>>& absmean, const AwqOptions& opt) {
  const ModelConfig& c = w.config;
  LMD_CHECK(opt.w_bits == 4) << "--w_bits " << opt.w_bits << ": only 4 is supported";
  LMD_CHECK(!opt.w_sym) << "--w_sym True: only asymmetric (zero-point) AWQ is supported";
  const int g = opt.w_group_size;
  const int64_t h = c.hidden_units, qd = c.q_dim(), kd = c.kv_dim(), inter = c.inter_size;
  check_awq_shapes(c, g, opt.model);
  Matmul mm(opt.threads);
  AwqResult res;
  res.quantized.config = w.config;
  res.quantized.config.weight_type = DType::kInt4;
  res.quantized.config.group_size = g;
  res.quantized.tok_embeddings = w.tok_embeddings;
  res.quantized.norm = w.norm;
  res.quantized.output = w.output;
  res.quantized.layers.resize(c.num_layer);
  const bool gqa = c.kv_head_num != c.head_num;
  ProgressBar bar(opt.search_scale ? "auto_awq search" : "quantise (RTN)", c.num_layer);
  for (int l = 0; l < c.num_layer; ++l) {
    const LayerWeights& s = w.layers[l];
    LayerF32 f{s.attention_norm.to_f32(), s.ffn_norm.to_f32(), s.wq.to_f32(), s.wk.to_f32(), s.wv.to_f32(),
               s.bv.empty() ? std::vector<float>{} : s.bv.to_f32(), s.wo.to_f32(), s.w1.to_f32(), s.w3.to_f32(),
               s.w2.to_f32()};
    auto rows_of = [&](const std::vector<float>& x, int64_t dim) { return static_cast<int>(x.size() / dim); };
    // qkv
    {
      AwqPairResult r{l, "qkv"};
      const std::vector<float> W = stack_rows({&f.wq, &f.wk, &f.wv});
      const auto& x = inputs[l][0];
      const auto sc = search_pair(mm, x, rows_of(x, h), absmean[l][0], W, qd + 2 * kd, h, g, opt.search_scale, &r);
      if (!sc.empty()) {
        for (int64_t cc = 0; cc < h; ++cc) f.attention_norm[cc] /= sc[cc];
        for (auto* m : {&f.wq, &f.wk, &f.wv})
          for (size_t i = 0; i < m->size(); ++i) (*m)[i] *= sc[i % h];
      }
      res.pairs.push_back(r);
    }
    if (!gqa) {  // v -> o
      AwqPairResult r{l, "o"};
      const auto& x = inputs[l][1];
      const auto sc = search_pair(mm, x, rows_of(x, qd), absmean[l][1], f.wo, h, qd, g, opt.search_scale, &r);
      if (!sc.empty()) {
        for (int64_t rr = 0; rr < kd; ++rr) {
          for (int64_t cc = 0; cc < h; ++cc) f.wv[rr * h + cc] /= sc[rr];
          if (!f.bv.empty()) f.bv[rr] /= sc[rr];
        }
        for (size_t i = 0; i < f.wo.size(); ++i) f.wo[i] *= sc[i % qd];
      }
      res.pairs.push_back(r);
    }
    {  // ffn_norm -> gate, up
      AwqPairResult r{l, "gate_up"};
      const std::vector<float> W = stack_rows({&f.w1, &f.w3});
      const auto& x = inputs[l][2];
      const auto sc = search_pair(mm, x, rows_of(x, h), absmean[l][2], W, 2 * inter, h, g, opt.search_scale, &r);
      if (!sc.empty()) {
        for (int64_t cc = 0; cc < h; ++cc) f.ffn_norm[cc] /= sc[cc];
        for (auto* m : {&f.w1, &f.w3})
          for (size_t i = 0; i < m->size(); ++i) (*m)[i] *= sc[i % h];
      }
      res.pairs.push_back(r);
    }
    {  // up -> down
      AwqPairResult r{l, "down"};
      const auto& x = inputs[l][3];
      const auto sc = search_pair(mm, x, rows_of(x, inter), absmean[l][3], f.w2, h, inter, g, opt.search_scale, &r);
      if (!sc.empty()) {
        for (int64_t rr = 0; rr < inter; ++rr)
          for (int64_t cc = 0; cc < h; ++cc) f.w3[rr * h + cc] /= sc[rr];
        for (size_t i = 0; i < f.w2.size(); ++i) f.w2[i] *= sc[i % inter];
      }
      res.pairs.push_back(r);
    }
    LayerWeights& o = res.quantized.layers[l];
    o.attention_norm = dense_f32(f.attention_norm, {h});
    o.ffn_norm = dense_f32(f.ffn_norm, {h});
    o.bq = s.bq;
    o.bk = s.bk;
    o.bv = f.bv.empty() ? WeightTensor{} : dense_f32(f.bv, {kd});
    o.bo = s.bo;
    o.wq = int4_tensor(quantize_linear(f.wq.data(), qd, h, g));
    o.wk = int4_tensor(quantize_linear(f.wk.data(), kd, h, g));
    o.wv = int4_tensor(quantize_linear(f.wv.data(), kd, h, g));
    o.wo = int4_tensor(quantize_linear(f.wo.data(), h, qd, g));
    o.w1 = int4_tensor(quantize_linear(f.w1.data(), inter, h, g));
    o.w3 = int4_tensor(quantize_linear(f.w3.data(), inter, h, g));
    o.w2 = int4_tensor(quantize_linear(f.w2.data(), h, inter, g));
    if (opt.progress) bar.advance();
  }
  if (opt.progress) bar.finish();
  return res;
}

namespace {

// Keeps up to `keep` rows per (layer, site), evenly spread over the calibration tokens, and
// every row's absolute values for absmean.
class CaptureObserver : public ForwardObserver {
 public:
  CaptureObserver(const ModelConfig& c, int64_t total_tokens, int keep) : stats_(c) {
    stride_ = std::max<int64_t>(1, total_tokens / std::max(1, keep));
    rows_.assign(c.num_layer, std::vector<std::vector<float>>(kNumSites));
    seen_.assign(c.num_layer, std::vector<int64_t>(kNumSites, 0));
  }
  void on_linear_input(int layer, Site site, const float* x, int n, int dim) override {
    stats_.on_linear_input(layer, site, x, n, dim);
    const int si = static_cast<int>(site);
    int64_t& seen = seen_[layer][si];
    for (int t = 0; t < n; ++t, ++seen)
      if (seen % stride_ == 0) rows_[layer][si].insert(rows_[layer][si].end(), x + static_cast<size_t>(t) * dim,
                                                      x + static_cast<size_t>(t + 1) * dim);
  }
  void on_kv(int, const float*, const float*, int, int) override {}
  std::vector<std::vector<std::vector<float>>>& rows() { return rows_; }
  std::vector<std::vector<std::vector<float>>> absmean() {
    std::vector<std::vector<std::vector<float>>> a(stats_.layers().size());
    for (size_t l = 0; l < a.size(); ++l)
      for (int s = 0; s < kNumSites; ++s) a[l].push_back(stats_.layers()[l].inputs[s].absmean());
    return a;
  }

 private:
  StatsObserver stats_;
  int64_t stride_ = 1;
  std::vector<std::vector<std::vector<float>>> rows_;
  std::vector<std::vector<int64_t>> seen_;
};

}  // namespace

AwqResult run_auto_awq(const AwqOptions& opt) {
  LMD_CHECK(!opt.work_dir.empty()) << "--work_dir must not be empty";
  CalibrateOptions co;
  co.model = opt.model;
  co.dataset = opt.calib_dataset;
  co.samples = opt.calib_samples;
  co.seqlen = opt.calib_seqlen;
  co.seed = opt.seed;
  co.threads = opt.threads;
  if (co.dataset.empty() || co.samples <= 0 || co.seqlen <= 0) {
    // The seed runs calibrate first into the same work_dir: reuse its dataset settings.
    if (fs::exists(opt.work_dir + "/calib_meta.json")) {
      const CalibMeta m = load_calib_stats(opt.work_dir).meta;
      if (co.dataset.empty()) co.dataset = m.dataset;
      if (co.samples <= 0) co.samples = m.samples;
      if (co.seqlen <= 0) co.seqlen = m.seqlen;
      if (opt.seed == 0) co.seed = m.seed;
    }
    LMD_CHECK(!co.dataset.empty() || !opt.search_scale)
        << "auto_awq: no calibration data: run `lmdeploy lite calibrate --work_dir " << opt.work_dir
        << "` first, or pass --calib_dataset FILE|self";
    if (co.samples <= 0) co.samples = 128;
    if (co.seqlen <= 0) co.seqlen = 2048;
  }
  ModelWeights w = load_model_weights(opt.model);
  LMD_CHECK(opt.w_bits == 4) << "--w_bits " << opt.w_bits << ": only 4 is supported";
  check_awq_shapes(w.config, opt.w_group_size, opt.model);
  const auto tok = load_tokenizer(opt.model);
  std::vector<std::vector<std::vector<float>>> rows(w.config.num_layer, std::vector<std::vector<float>>(kNumSites));
  std::vector<std::vector<std::vector<float>>> absmean = rows;
  AwqOptions ao = opt;
  if (opt.search_scale) {
    const auto samples = calibration_samples(co, w, *tok);
    LiteModelOptions mo;
    mo.threads = opt.threads;
    mo.exact = true;
    mo.max_tokens = co.seqlen + 64;
    const auto model = make_lite_model(w, mo);
    CaptureObserver cap(w.config, static_cast<int64_t>(samples.size()) * co.seqlen, opt.search_tokens);
    model->set_observer(&cap);
    ProgressBar bar("auto_awq capture", static_cast<int64_t>(samples.size()));
    for (const auto& s : samples) {
      prefill(*model, {s});
      if (opt.progress) bar.advance();
    }
    if (opt.progress) bar.finish();
    model->set_observer(nullptr);
    rows = std::move(cap.rows());
    absmean = cap.absmean();
  }
  AwqResult r = awq_quantize(w, rows, absmean, ao);
  write_awq_checkpoint(opt.model, r.quantized, opt.work_dir);
  return r;
}

}  // namespace lmd::lite
