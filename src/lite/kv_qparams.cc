#include "lite/kv_qparams.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "format/workspace.h"
#include "lite/calib_stats.h"

namespace fs = std::filesystem;

namespace lmd::lite {

KvQparamsResult run_kv_qparams(const KvQparamsOptions& opt) {
  LMD_CHECK(opt.kv_bits == 8) << "--kv_bits " << opt.kv_bits << ": only 8 (int8 KV) has static parameters";
  LMD_CHECK(opt.num_tp >= 1) << "--num_tp " << opt.num_tp << ": must be >= 1";
  LMD_CHECK(!opt.turbomind_dir.empty()) << "--turbomind_dir (DST/triton_models/weights) is required";
  std::string dir = opt.turbomind_dir;
  // Accept the workspace root too.
  if (!fs::exists(dir + "/config.ini") && workspace::is_workspace(dir)) dir = workspace::weights_dir(dir);
  const std::string ini = dir + "/config.ini";
  LMD_CHECK_KIND(fs::exists(ini), kNotFound) << "--turbomind_dir " << opt.turbomind_dir
                                             << ": no config.ini (expected workspace/triton_models/weights)";
  const workspace::WorkspaceConfig wc = workspace::read_config_ini(ini);
  const CalibStats s = load_calib_stats(opt.work_dir);
  const CalibMeta& m = s.meta;
  LMD_CHECK(m.num_layer == wc.model.num_layer)
      << "statistics in " << opt.work_dir << " are for " << m.num_layer << " layers but " << ini << " has num_layer "
      << wc.model.num_layer << " (calibrated a different model?)";
  LMD_CHECK(m.kv_head_num == wc.model.kv_head_num && m.head_dim == wc.model.size_per_head)
      << "statistics in " << opt.work_dir << " have kv_head_num " << m.kv_head_num << " x head_dim " << m.head_dim
      << " but " << ini << " has " << wc.model.kv_head_num << " x " << wc.model.size_per_head;
  LMD_CHECK(opt.num_tp == wc.model.tensor_para_size)
      << "--num_tp " << opt.num_tp << " but " << ini << " has tensor_para_size " << wc.model.tensor_para_size
      << "; pass --num_tp " << wc.model.tensor_para_size;

  KvQparamsResult r;
  const float qmax_asym = static_cast<float>((1 << opt.kv_bits) - 1);
  const float qmax_sym = static_cast<float>((1 << (opt.kv_bits - 1)) - 1);
  for (int l = 0; l < m.num_layer; ++l) {
    const LayerStats& L = s.layers[l];
    std::vector<float> p;
    for (const ChannelStats* c : {&L.key, &L.value}) {
      const float hi = *std::max_element(c->max.begin(), c->max.end());
      const float lo = *std::min_element(c->min.begin(), c->min.end());
      const float am = *std::max_element(c->absmax.begin(), c->absmax.end());
      if (opt.kv_sym) {
        p.push_back(am / qmax_sym);
      } else {
        p.push_back((hi - lo) / qmax_asym);
        p.push_back((hi + lo) / 2.0f);
      }
    }
    for (size_t i = 0; i < p.size(); i += opt.kv_sym ? 1 : 2)
      LMD_CHECK(p[i] > 0.0f) << opt.work_dir << ": layer " << l << " has a zero K/V range; statistics look empty";
    for (int rank = 0; rank < opt.num_tp; ++rank) {
      const std::string path = dir + "/layers." + std::to_string(l) + ".past_kv_scale." + std::to_string(rank) + ".weight";
      std::FILE* f = std::fopen(path.c_str(), "wb");
      LMD_CHECK(f != nullptr) << "cannot write " << path;
      const size_t wrote = std::fwrite(p.data(), sizeof(float), p.size(), f);
      LMD_CHECK(std::fclose(f) == 0 && wrote == p.size()) << "cannot write " << path;
      ++r.files;
    }
    r.params.push_back(std::move(p));
  }
  return r;
}

}  // namespace lmd::lite
