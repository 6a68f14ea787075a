// `lmdeploy lite calibrate`: runs the model (fp KV, fp32 activations) over calibration
// samples and saves the statistics of lite/calib_stats.h in WORK_DIR.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lite/calib_stats.h"
#include "lite/lite_model.h"

namespace lmd::lite {

struct CalibrateOptions {
  std::string model;
  std::string dataset = "c4";  // file, seed name, or "self" (lite/dataset.h)
  int samples = 128;
  int seqlen = 2048;
  std::string work_dir = "./work_dir";
  uint64_t seed = 0;
  int threads = 0;
  bool progress = true;
};

// The calibration samples (token windows) for `opt`, from the dataset or the model itself.
std::vector<std::vector<int32_t>> calibration_samples(const CalibrateOptions& opt, const ModelWeights& w,
                                                      const Tokenizer& tok);

CalibStats run_calibrate(const CalibrateOptions& opt);

}  // namespace lmd::lite
