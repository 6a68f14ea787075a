#include "convert/load_model.h"

#include <sys/stat.h>

#include "core/error.h"
#include "convert/sources.h"
#include "convert/tp_split.h"
#include "format/hf_config.h"
#include "format/workspace.h"

namespace lmd {
namespace {

bool stat_mode(const std::string& p, mode_t* mode) {
  struct stat st;
  if (::stat(p.c_str(), &st) != 0) return false;
  *mode = st.st_mode;
  return true;
}

}  // namespace

std::string detect_model_format(const std::string& path) {
  mode_t mode = 0;
  LMD_CHECK_KIND(stat_mode(path, &mode), kNotFound) << "model path does not exist: " << path;
  if (S_ISREG(mode)) return "gguf";
  LMD_CHECK(S_ISDIR(mode)) << "model path is neither a file nor a directory: " << path;
  if (workspace::is_workspace(path)) return "workspace";
  mode_t cm = 0;
  LMD_CHECK_KIND(stat_mode(path + "/config.json", &cm) && S_ISREG(cm), kNotFound)
      << path << " is not a model: no config.json (HF), no triton_models/weights/config.ini (workspace), not a .gguf";
  const HfModelInfo info = parse_hf_config(path + "/config.json");
  if (info.quant.present && info.quant.quant_method == "awq") return "awq";
  LMD_CHECK_KIND(!info.quant.present, kUnsupported)
      << path << "/config.json: quantization method '" << info.quant.quant_method << "' is not supported (only awq)";
  return "hf";
}

namespace {

// The whole model (tensor_para_size 1) from a non-workspace source.
ModelWeights load_whole(const std::string& path, const std::string& fmt, const LoadOptions& opt) {
  ModelWeights w;
  if (fmt == "gguf") {
    w = convert::load_gguf_weights(path, opt.keep_gguf_rope_layout);
  } else if (fmt == "hf" || fmt == "awq") {
    const HfModelInfo info = parse_hf_config(path + "/config.json");
    if (fmt == "awq" || (info.quant.present && info.quant.quant_method == "awq")) {
      w = convert::load_awq_weights(path, info, opt.group_size);
    } else {
      LMD_CHECK_KIND(!info.quant.present, kUnsupported)
          << path << "/config.json: quantization method '" << info.quant.quant_method
          << "' is not supported (only awq)";
      w = convert::load_hf_weights(path, info);
    }
  } else {
    throw Error("unknown model format '" + fmt + "' (expected hf, awq, gguf or workspace)");
  }
  return w;
}

// A workspace converted for a tensor_para_size other than `tp`, as one whole model.
ModelWeights merge_workspace(const std::string& path) {
  std::vector<ModelWeights> ranks = workspace::load_all_ranks(path);
  return ranks.size() == 1 ? std::move(ranks[0]) : convert::merge_ranks(ranks);
}

int workspace_tp(const std::string& path) {
  return workspace::read_config_ini(workspace::weights_dir(path) + "/config.ini").model.tensor_para_size;
}

}  // namespace

ModelWeights load_model_weights(const std::string& path, const LoadOptions& opt) {
  LMD_CHECK(opt.tp >= 1 && opt.rank >= 0 && opt.rank < opt.tp)
      << "load options: rank " << opt.rank << " of tp " << opt.tp;
  const std::string fmt = opt.model_format.empty() ? detect_model_format(path) : opt.model_format;
  ModelWeights w;
  if (fmt == "workspace" && workspace_tp(path) == opt.tp) {
    w = workspace::load_rank(path, opt.rank);
  } else {
    ModelWeights whole = fmt == "workspace" ? merge_workspace(path) : load_whole(path, fmt, opt);
    if (opt.tp == 1) {
      w = std::move(whole);
    } else {
      std::vector<ModelWeights> ranks = convert::split_model(whole, opt.tp);
      w = std::move(ranks[opt.rank]);
    }
  }
  if (!opt.model_name.empty()) w.config.model_name = opt.model_name;
  return w;
}

std::vector<ModelWeights> load_model_shards(const std::string& path, const LoadOptions& opt) {
  LMD_CHECK(opt.tp >= 1) << "--tp " << opt.tp << ": must be at least 1";
  const std::string fmt = opt.model_format.empty() ? detect_model_format(path) : opt.model_format;
  std::vector<ModelWeights> ranks;
  if (fmt == "workspace" && workspace_tp(path) == opt.tp) {
    ranks = workspace::load_all_ranks(path);
  } else {
    ModelWeights whole = fmt == "workspace" ? merge_workspace(path) : load_whole(path, fmt, opt);
    if (opt.tp == 1) ranks.push_back(std::move(whole));
    else ranks = convert::split_model(whole, opt.tp);
  }
  if (!opt.model_name.empty())
    for (ModelWeights& w : ranks) w.config.model_name = opt.model_name;
  return ranks;
}

}  // namespace lmd
