// `lmdeploy lite kv_qparams`: per layer, the K/V statistics of `calibrate` reduced to one
// scalar pair each (as lmdeploy v0.1 does: the same values for every head and every rank),
// written into the workspace as float32 raw files (numpy.tofile layout):
//   asymmetric: layers.{i}.past_kv_scale.{rank}.weight = [k_scale, k_zp, v_scale, v_zp]
//               scale = (max - min) / (2^bits - 1),  zp = (max + min) / 2
//   symmetric:  layers.{i}.past_kv_scale.{rank}.weight = [k_scale, v_scale]
//               scale = absmax / (2^(bits-1) - 1)
// With quant_policy 4 (or int8 / 8) the model then quantises K/V with them (model/llama.h).
#pragma once

#include <string>
#include <vector>

namespace lmd::lite {

struct KvQparamsOptions {
  std::string work_dir = "./work_dir";
  std::string turbomind_dir;  // DST/triton_models/weights (holds config.ini)
  int kv_bits = 8;
  bool kv_sym = false;
  int num_tp = 1;
};

struct KvQparamsResult {
  std::vector<std::vector<float>> params;  // [layer] -> the values written (per rank alike)
  int files = 0;
};

KvQparamsResult run_kv_qparams(const KvQparamsOptions& opt);

}  // namespace lmd::lite
