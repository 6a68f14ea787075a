#include "lite/calib_stats.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "format/safetensors.h"

namespace fs = std::filesystem;

namespace lmd::lite {

const char* site_name(int site) {
  static const char* const kNames[kNumSites] = {"qkv", "o", "gate_up", "down"};
  return kNames[site];
}

void ChannelStats::init(int dim) {
  max.assign(dim, -INFINITY);
  min.assign(dim, INFINITY);
  absmax.assign(dim, 0.0f);
  sum.assign(dim, 0.0);
  abssum.assign(dim, 0.0);
  count = 0;
}

void ChannelStats::add(const float* x, int n, int dim) {
  LMD_CHECK(static_cast<size_t>(dim) == max.size()) << "calibration: dim " << dim << " vs " << max.size();
  for (int t = 0; t < n; ++t) {
    const float* r = x + static_cast<size_t>(t) * dim;
    for (int c = 0; c < dim; ++c) {
      const float v = r[c], a = std::fabs(v);
      max[c] = v > max[c] ? v : max[c];
      min[c] = v < min[c] ? v : min[c];
      absmax[c] = a > absmax[c] ? a : absmax[c];
      sum[c] += v;
      abssum[c] += a;
    }
  }
  count += n;
}

std::vector<float> ChannelStats::mean() const {
  std::vector<float> m(sum.size());
  for (size_t i = 0; i < m.size(); ++i) m[i] = count ? static_cast<float>(sum[i] / count) : 0.0f;
  return m;
}

std::vector<float> ChannelStats::absmean() const {
  std::vector<float> m(abssum.size());
  for (size_t i = 0; i < m.size(); ++i) m[i] = count ? static_cast<float>(abssum[i] / count) : 0.0f;
  return m;
}

StatsObserver::StatsObserver(const ModelConfig& c) : layers_(c.num_layer) {
  const int dims[kNumSites] = {c.hidden_units, c.q_dim(), c.hidden_units, c.inter_size};
  for (auto& l : layers_) {
    for (int s = 0; s < kNumSites; ++s) l.inputs[s].init(dims[s]);
    l.key.init(c.kv_dim());
    l.value.init(c.kv_dim());
  }
}

void StatsObserver::on_linear_input(int layer, Site site, const float* x, int n, int dim) {
  layers_.at(layer).inputs[static_cast<int>(site)].add(x, n, dim);
}

void StatsObserver::on_kv(int layer, const float* k, const float* v, int n, int kv_dim) {
  layers_.at(layer).key.add(k, n, kv_dim);
  layers_.at(layer).value.add(v, n, kv_dim);
}

namespace {

const char* const kStatsFile = "calib_stats.safetensors";
const char* const kMetaFile = "calib_meta.json";

}  // namespace

void save_calib_stats(const std::string& work_dir, const CalibStats& s) {
  std::error_code ec;
  fs::create_directories(work_dir, ec);
  LMD_CHECK(!ec) << "cannot create work_dir " << work_dir << ": " << ec.message();
  std::vector<std::vector<float>> keep;  // owns the data the writer points at
  std::vector<safetensors::TensorToWrite> out;
  keep.reserve(s.layers.size() * (kNumSites * 5 + 6));
  auto add = [&](const std::string& name, std::vector<int64_t> shape, std::vector<float> v) {
    keep.push_back(std::move(v));
    out.push_back({name, safetensors::StDType::F32, std::move(shape), keep.back().data(), keep.back().size() * 4});
  };
  const CalibMeta& m = s.meta;
  for (size_t i = 0; i < s.layers.size(); ++i) {
    const LayerStats& L = s.layers[i];
    for (int site = 0; site < kNumSites; ++site) {
      const ChannelStats& c = L.inputs[site];
      const std::string p = "inputs.layers." + std::to_string(i) + "." + site_name(site) + ".";
      const int64_t d = static_cast<int64_t>(c.max.size());
      add(p + "max", {d}, c.max);
      add(p + "min", {d}, c.min);
      add(p + "mean", {d}, c.mean());
      add(p + "absmax", {d}, c.absmax);
      add(p + "absmean", {d}, c.absmean());
    }
    for (int kv = 0; kv < 2; ++kv) {
      const ChannelStats& c = kv == 0 ? L.key : L.value;
      const std::string p = std::string(kv == 0 ? "key" : "value") + ".layers." + std::to_string(i) + ".";
      const std::vector<int64_t> shape = {m.kv_head_num, m.head_dim};
      add(p + "max", shape, c.max);
      add(p + "min", shape, c.min);
      add(p + "absmax", shape, c.absmax);
    }
  }
  safetensors::write_file(work_dir + "/" + kStatsFile, out, {{"format", "lmdeploy-cpp calibration statistics v1"}});
  nlohmann::json j = {{"format", "lmdeploy-cpp calibration statistics v1"},
                      {"model", m.model},
                      {"dataset", m.dataset},
                      {"samples", m.samples},
                      {"seqlen", m.seqlen},
                      {"seed", m.seed},
                      {"tokens", m.tokens},
                      {"num_layer", m.num_layer},
                      {"head_num", m.head_num},
                      {"kv_head_num", m.kv_head_num},
                      {"head_dim", m.head_dim},
                      {"hidden_units", m.hidden_units},
                      {"inter_size", m.inter_size}};
  std::ofstream f(work_dir + "/" + kMetaFile);
  f << j.dump(2) << "\n";
  LMD_CHECK(f.good()) << "cannot write " << work_dir << "/" << kMetaFile;
}

CalibStats load_calib_stats(const std::string& work_dir) {
  const std::string meta_path = work_dir + "/" + kMetaFile, stats_path = work_dir + "/" + kStatsFile;
  std::ifstream in(meta_path);
  LMD_CHECK_KIND(in.good(), kNotFound) << "no calibration statistics in " << work_dir << " (" << meta_path
                                       << " missing): run `lmdeploy lite calibrate --work_dir " << work_dir << "` first";
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  LMD_CHECK(j.is_object()) << meta_path << ": not a JSON object";
  CalibStats s;
  CalibMeta& m = s.meta;
  try {
    m.model = j.at("model").get<std::string>();
    m.dataset = j.at("dataset").get<std::string>();
    m.samples = j.at("samples").get<int>();
    m.seqlen = j.at("seqlen").get<int>();
    m.seed = j.at("seed").get<uint64_t>();
    m.tokens = j.at("tokens").get<int64_t>();
    m.num_layer = j.at("num_layer").get<int>();
    m.head_num = j.at("head_num").get<int>();
    m.kv_head_num = j.at("kv_head_num").get<int>();
    m.head_dim = j.at("head_dim").get<int>();
    m.hidden_units = j.at("hidden_units").get<int>();
    m.inter_size = j.at("inter_size").get<int>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(meta_path + ": " + e.what());
  }
  auto f = safetensors::SafetensorsFile::open(stats_path);
  auto get = [&](const std::string& name, int64_t n) {
    auto it = f->tensors().find(name);
    LMD_CHECK(it != f->tensors().end()) << stats_path << ": tensor " << name << " missing";
    const safetensors::Tensor& t = it->second;
    LMD_CHECK(t.dtype == safetensors::StDType::F32 && t.numel() == n)
        << stats_path << ": tensor " << name << " must be F32 with " << n << " values";
    std::vector<float> v(static_cast<size_t>(n));
    std::memcpy(v.data(), t.data, static_cast<size_t>(n) * 4);
    return v;
  };
  const int dims[kNumSites] = {m.hidden_units, m.head_num * m.head_dim, m.hidden_units, m.inter_size};
  s.layers.resize(m.num_layer);
  for (int i = 0; i < m.num_layer; ++i) {
    LayerStats& L = s.layers[i];
    for (int site = 0; site < kNumSites; ++site) {
      const std::string p = "inputs.layers." + std::to_string(i) + "." + site_name(site) + ".";
      ChannelStats& c = L.inputs[site];
      c.max = get(p + "max", dims[site]);
      c.min = get(p + "min", dims[site]);
      c.absmax = get(p + "absmax", dims[site]);
      const std::vector<float> mean = get(p + "mean", dims[site]), absmean = get(p + "absmean", dims[site]);
      c.count = m.tokens;
      c.sum.assign(mean.begin(), mean.end());
      c.abssum.assign(absmean.begin(), absmean.end());
      for (auto& x : c.sum) x *= static_cast<double>(m.tokens);
      for (auto& x : c.abssum) x *= static_cast<double>(m.tokens);
    }
    for (int kv = 0; kv < 2; ++kv) {
      ChannelStats& c = kv == 0 ? L.key : L.value;
      const std::string p = std::string(kv == 0 ? "key" : "value") + ".layers." + std::to_string(i) + ".";
      const int64_t n = static_cast<int64_t>(m.kv_head_num) * m.head_dim;
      c.max = get(p + "max", n);
      c.min = get(p + "min", n);
      c.absmax = get(p + "absmax", n);
    }
  }
  return s;
}

}  // namespace lmd::lite
