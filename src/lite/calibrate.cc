#include "lite/calibrate.h"

#include <algorithm>

#include "core/error.h"
#include "common/logging.h"
#include "common/progress.h"
#include "convert/load_model.h"
#include "lite/dataset.h"
#include "lite/self_text.h"

namespace lmd::lite {

namespace {
constexpr int kStepTokens = 2048;  // tokens prefilled per forward step
constexpr int kSelfBatch = 16;     // self-text samples generated together
}  // namespace

std::vector<std::vector<int32_t>> calibration_samples(const CalibrateOptions& opt, const ModelWeights& w,
                                                      const Tokenizer& tok) {
  LMD_CHECK(opt.samples > 0) << "--calib_samples must be > 0, got " << opt.samples;
  LMD_CHECK(opt.seqlen > 2) << "--calib_seqlen must be > 2, got " << opt.seqlen;
  if (!is_self_dataset(opt.dataset)) {
    std::vector<int32_t> stream;
    for (const std::string& d : read_dataset(opt.dataset)) {
      const std::vector<int32_t> ids = tok.encode(d, /*add_bos=*/false, /*parse_special=*/false);
      stream.insert(stream.end(), ids.begin(), ids.end());
    }
    return sample_windows(stream, opt.samples, opt.seqlen, opt.seed, "'" + opt.dataset + "'");
  }
  LiteModelOptions mo;
  mo.threads = opt.threads;
  const int batch = std::min(opt.samples, kSelfBatch);
  mo.max_tokens = batch * (opt.seqlen + 64);
  const auto model = make_lite_model(w, mo);
  std::vector<std::vector<int32_t>> out;
  for (int done = 0; done < opt.samples; done += batch) {
    const int n = std::min(batch, opt.samples - done);
    auto part = generate_self_samples(*model, tok, n, opt.seqlen, opt.seed + static_cast<uint64_t>(done));
    out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

CalibStats run_calibrate(const CalibrateOptions& opt) {
  LMD_CHECK(!opt.work_dir.empty()) << "--work_dir must not be empty";
  const ModelWeights w = load_model_weights(opt.model);
  const auto tok = load_tokenizer(opt.model);
  const std::vector<std::vector<int32_t>> samples = calibration_samples(opt, w, *tok);

  LiteModelOptions mo;
  mo.threads = opt.threads;
  mo.exact = true;  // statistics of the fp32 activations
  const int per_step = std::max(1, kStepTokens / opt.seqlen);
  mo.max_tokens = per_step * (opt.seqlen + 64);
  const auto model = make_lite_model(w, mo);
  StatsObserver obs(w.config);
  model->set_observer(&obs);
  ProgressBar bar("calibrate", static_cast<int64_t>(samples.size()));
  for (size_t i = 0; i < samples.size(); i += per_step) {
    const size_t end = std::min(samples.size(), i + per_step);
    prefill(*model, std::vector<std::vector<int32_t>>(samples.begin() + i, samples.begin() + end));
    if (opt.progress) bar.advance(static_cast<int64_t>(end - i));
  }
  if (opt.progress) bar.finish();
  model->set_observer(nullptr);

  CalibStats s;
  s.layers = std::move(obs.layers());
  CalibMeta& m = s.meta;
  const ModelConfig& c = w.config;
  m.model = opt.model;
  m.dataset = opt.dataset;
  m.samples = opt.samples;
  m.seqlen = opt.seqlen;
  m.seed = opt.seed;
  m.tokens = static_cast<int64_t>(samples.size()) * opt.seqlen;
  m.num_layer = c.num_layer;
  m.head_num = c.head_num;
  m.kv_head_num = c.kv_head_num;
  m.head_dim = c.size_per_head;
  m.hidden_units = c.hidden_units;
  m.inter_size = c.inter_size;
  save_calib_stats(opt.work_dir, s);
  return s;
}

}  // namespace lmd::lite
