#include "lite/ppl.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "common/progress.h"
#include "lite/dataset.h"
#include "convert/load_model.h"
#include "core/quant_policy.h"
#include "lite/lite_model.h"
#include "model/tp_model.h"

namespace lmd::lite {
namespace {

// make_lite_model's options over tensor-parallel ranks.
std::unique_ptr<LlamaModel> make_tp_lite_model(std::vector<ModelWeights>& ranks, const LiteModelOptions& mo) {
  ModelRuntimeOptions ro;
  ro.threads = mo.threads;
  ro.kv_kind = mo.kv_kind;
  ro.exact = mo.exact;
  ro.block_len = 64;
  ro.kv_num_blocks = (mo.max_tokens + ro.block_len - 1) / ro.block_len + 1;
  if (mo.kv_kind == KvKind::kInt8 && !mo.kv_static)
    for (ModelWeights& w : ranks)
      for (auto& l : w.layers) l.past_kv_scale = WeightTensor{};
  return create_tp_model(ranks, ro);
}

}  // namespace

PplResult run_ppl(const PplOptions& opt) {
  LMD_CHECK(!opt.dataset.empty()) << "lite ppl: --dataset FILE is required";
  LMD_CHECK(opt.max_tokens >= 0 && opt.window >= 0) << "lite ppl: --max-tokens and --window must be >= 0";
  const std::vector<std::string> docs = read_dataset(opt.dataset);
  std::string text;
  for (const auto& d : docs) text += (text.empty() ? "" : "\n\n") + d;

  LiteModelOptions mo;
  if (!opt.quant_policy.empty()) parse_quant_policy(opt.quant_policy);  // bad values fail before loading
  mo.kv_static = opt.kv_static;
  mo.threads = opt.threads;
  mo.exact = opt.exact;
  LoadOptions lo;
  lo.tp = opt.tp;
  std::vector<ModelWeights> ranks = load_model_shards(opt.model, lo);
  const ModelWeights& weights = ranks[0];
  const std::unique_ptr<Tokenizer> tok = load_tokenizer(opt.model);
  mo.kv_kind = opt.quant_policy.empty() ? kv_kind_for_quant_policy(weights.config.quant_policy)
                                        : parse_quant_policy(opt.quant_policy);
  int window = opt.window > 0 ? opt.window : weights.config.session_len;
  std::vector<int32_t> ids = tok->encode(text, /*add_bos=*/tok->add_bos_default());
  if (opt.max_tokens > 0 && static_cast<int64_t>(ids.size()) > opt.max_tokens) ids.resize(opt.max_tokens);
  LMD_CHECK(ids.size() >= 2) << "dataset " << opt.dataset << " is too short: " << ids.size() << " tokens";
  window = std::min<int>(window, static_cast<int>(ids.size()));
  mo.max_tokens = window;
  const std::unique_ptr<LlamaModel> model = opt.tp == 1 ? make_lite_model(weights, mo) : make_tp_lite_model(ranks, mo);

  PplResult r;
  r.window = window;
  r.kv = kv_kind_label(mo.kv_kind);
  if (mo.kv_kind == KvKind::kInt8) r.kv += model->kv_static() ? " (static)" : " (online)";
  ProgressBar bar("ppl " + r.kv, static_cast<int64_t>(ids.size()));
  for (size_t start = 0; start + 1 < ids.size(); start += window) {
    const size_t end = std::min(ids.size(), start + window);
    if (end - start < 2) break;
    const std::vector<int32_t> w(ids.begin() + start, ids.begin() + end);
    const TokenScores s = score_tokens(*model, w);
    for (double x : s.nll) r.nll_sum += x;
    r.tokens_scored += static_cast<int64_t>(s.nll.size());
    r.windows += 1;
    if (opt.progress) bar.advance(static_cast<int64_t>(end - start));
  }
  if (opt.progress) bar.finish();
  r.ppl = std::exp(r.nll_sum / static_cast<double>(r.tokens_scored));
  return r;
}

}  // namespace lmd::lite
