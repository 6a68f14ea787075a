#include "convert/load_model.h"

#include <sys/stat.h>

#include "common/error.h"
#include "convert/sources.h"
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

ModelWeights load_model_weights(const std::string& path, const LoadOptions& opt) {
  const std::string fmt = opt.model_format.empty() ? detect_model_format(path) : opt.model_format;
  ModelWeights w;
  if (fmt == "workspace") {
    w = workspace::load_for_engine(path, opt.tp, opt.rank);
  } else if (fmt == "gguf") {
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
  if (!opt.model_name.empty()) w.config.model_name = opt.model_name;
  return w;
}

}  // namespace lmd
