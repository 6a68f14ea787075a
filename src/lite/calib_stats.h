// Calibration statistics (what `lmdeploy lite calibrate` records, as lmdeploy does):
//   per Linear input, per channel: max, min, mean, absmax, absmean — for the four distinct
//     inputs of a layer: the q/k/v input, the o input, the gate/up input, the down input;
//   per layer K (after RoPE) and V, per [kv_head, head_dim]: max, min, absmax.
// Stored in WORK_DIR (docs/quantization.md):
//   calib_stats.safetensors  F32 tensors
//     inputs.layers.{i}.{qkv|o|gate_up|down}.{max|min|mean|absmax|absmean}   [dim]
//     key.layers.{i}.{max|min|absmax}, value.layers.{i}.{max|min|absmax}     [kv_head_num, head_dim]
//   calib_meta.json          model shape, dataset, samples, seqlen, seed, tokens seen
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/llama.h"
#include "core/model_config.h"

namespace lmd::lite {

struct ChannelStats {
  std::vector<float> max, min, absmax;
  std::vector<double> sum, abssum;  // mean / absmean = sum / count
  int64_t count = 0;
  void init(int dim);
  void add(const float* x, int n, int dim);  // x [n, dim]
  std::vector<float> mean() const;
  std::vector<float> absmean() const;
};

constexpr int kNumSites = 4;
const char* site_name(int site);  // "qkv", "o", "gate_up", "down"

struct LayerStats {
  ChannelStats inputs[kNumSites];
  ChannelStats key, value;  // absmean etc. unused for K/V; [kv_head_num * head_dim]
};

struct CalibMeta {
  std::string model, dataset;
  int samples = 0, seqlen = 0;
  uint64_t seed = 0;
  int64_t tokens = 0;
  int num_layer = 0, head_num = 0, kv_head_num = 0, head_dim = 0, hidden_units = 0, inter_size = 0;
};

struct CalibStats {
  CalibMeta meta;
  std::vector<LayerStats> layers;
};

// Collects statistics from a model's forward passes.
class StatsObserver : public ForwardObserver {
 public:
  explicit StatsObserver(const ModelConfig& c);
  void on_linear_input(int layer, Site site, const float* x, int n, int dim) override;
  void on_kv(int layer, const float* k, const float* v, int n, int kv_dim) override;
  std::vector<LayerStats>& layers() { return layers_; }

 private:
  std::vector<LayerStats> layers_;
};

void save_calib_stats(const std::string& work_dir, const CalibStats& s);
// Throws naming the file when WORK_DIR holds no (or inconsistent) statistics.
CalibStats load_calib_stats(const std::string& work_dir);

}  // namespace lmd::lite
