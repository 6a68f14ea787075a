#include "lite/lite_model.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "convert/load_model.h"
#include "core/quant_policy.h"

namespace lmd::lite {

std::unique_ptr<LlamaModel> make_lite_model(const ModelWeights& w, const LiteModelOptions& opt) {
  LMD_CHECK(opt.max_tokens > 0) << "lite: max_tokens " << opt.max_tokens;
  ModelRuntimeOptions ro;
  ro.threads = opt.threads;
  ro.kv_kind = opt.kv_kind;
  ro.exact = opt.exact;
  ro.block_len = 64;
  ro.kv_num_blocks = (opt.max_tokens + ro.block_len - 1) / ro.block_len + 1;
  if (opt.kv_kind == KvKind::kInt8 && !opt.kv_static) {
    ModelWeights online = w;  // copy without the static parameters
    for (auto& l : online.layers) l.past_kv_scale = WeightTensor{};
    return create_llama_model(online, ro);
  }
  return create_llama_model(w, ro);
}

LiteModel open_lite_model(const std::string& path, const LiteModelOptions& opt) {
  LiteModel m;
  ModelWeights w = load_model_weights(path);
  m.config = w.config;
  m.model = make_lite_model(w, opt);
  m.tokenizer = load_tokenizer(path);
  return m;
}

namespace {

std::vector<int32_t> blocks_for(int tokens, int block_len, int32_t first) {
  std::vector<int32_t> t((tokens + block_len - 1) / block_len);
  for (size_t i = 0; i < t.size(); ++i) t[i] = first + static_cast<int32_t>(i);
  return t;
}

}  // namespace

TokenScores score_tokens(LlamaModel& model, const std::vector<int32_t>& ids, int chunk) {
  const int n = static_cast<int>(ids.size());
  const int bl = model.kv_layout().block_len;
  LMD_CHECK(n >= 2) << "perplexity needs at least 2 tokens, got " << n;
  LMD_CHECK((n + bl - 1) / bl <= model.kv_num_blocks())
      << "window of " << n << " tokens does not fit the KV pool of " << model.kv_num_blocks() << " blocks";
  const int vocab = model.config().vocab_size;
  const std::vector<int32_t> table = blocks_for(n, bl, 0);
  TokenScores out;
  std::vector<float> logits;
  for (int start = 0; start < n - 1; start += chunk) {
    const int m = std::min(chunk, n - 1 - start);  // positions start .. start+m-1 predict the next
    StepPlan plan;
    for (int i = 0; i < m; ++i) append_sequence(&plan, &ids[start + i], 1, start + i, table, true, start + i);
    logits.resize(static_cast<size_t>(m) * vocab);
    model.forward(plan, logits.data());
    for (int i = 0; i < m; ++i) {
      const float* row = logits.data() + static_cast<size_t>(i) * vocab;
      const float mx = *std::max_element(row, row + vocab);
      double sum = 0;
      for (int j = 0; j < vocab; ++j) sum += std::exp(static_cast<double>(row[j] - mx));
      const int32_t target = ids[start + i + 1];
      out.nll.push_back(std::log(sum) + mx - row[target]);
      out.argmax.push_back(static_cast<int32_t>(std::max_element(row, row + vocab) - row));
    }
  }
  return out;
}

void prefill(LlamaModel& model, const std::vector<std::vector<int32_t>>& seqs) {
  const int bl = model.kv_layout().block_len;
  size_t i = 0;
  std::vector<float> logits(static_cast<size_t>(model.config().vocab_size));
  while (i < seqs.size()) {
    StepPlan plan;
    int32_t next_block = 0;
    while (i < seqs.size()) {
      const int n = static_cast<int>(seqs[i].size());
      const int32_t need = (n + bl - 1) / bl;
      LMD_CHECK(need <= model.kv_num_blocks()) << "sequence of " << n << " tokens does not fit the KV pool";
      if (next_block + need > model.kv_num_blocks()) break;
      const bool first = plan.seqs.empty();  // one logits row (the API produces at least the rows asked)
      append_sequence(&plan, seqs[i].data(), n, 0, blocks_for(n, bl, next_block), first, static_cast<int64_t>(i));
      next_block += need;
      ++i;
    }
    model.forward(plan, logits.data());
  }
}

KvKind parse_quant_policy(const std::string& s) {
  if (s.empty()) return KvKind::kF16;
  return kv_kind_for_quant_policy(parse_quant_policy_value(s));
}

const char* kv_kind_label(KvKind k) {
  switch (k) {
    case KvKind::kF32: return "fp32";
    case KvKind::kF16: return "fp16";
    case KvKind::kInt8: return "int8";
    case KvKind::kInt4: return "int4";
  }
  return "?";
}

}  // namespace lmd::lite
