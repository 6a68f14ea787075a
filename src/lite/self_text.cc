#include "lite/self_text.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "core/error.h"
#include "common/progress.h"

namespace lmd::lite {

std::vector<std::vector<int32_t>> generate_self_samples(LlamaModel& model, const Tokenizer& tok, int samples,
                                                        int seqlen, uint64_t seed) {
  LMD_CHECK(samples > 0 && seqlen > 2) << "self samples: samples " << samples << ", seqlen " << seqlen;
  const int bl = model.kv_layout().block_len;
  const int per_seq = (seqlen + bl - 1) / bl;
  LMD_CHECK(per_seq * samples <= model.kv_num_blocks())
      << "self samples: " << samples << " x " << seqlen << " tokens do not fit the KV pool";
  const int vocab = model.config().vocab_size;
  std::mt19937_64 rng(seed);
  std::vector<std::vector<int32_t>> seqs(static_cast<size_t>(samples));
  for (auto& s : seqs) {
    if (tok.bos_id() >= 0) s.push_back(tok.bos_id());
    int32_t t = 0;
    do {
      t = static_cast<int32_t>(rng() % static_cast<uint64_t>(std::min(vocab, tok.vocab_size())));
    } while (tok.is_special(t));
    s.push_back(t);
  }
  std::vector<float> logits(static_cast<size_t>(samples) * vocab);
  std::vector<int> order(static_cast<size_t>(vocab));
  std::vector<int> done(static_cast<size_t>(samples), 0);  // tokens already in the cache
  ProgressBar bar("self text", seqlen);
  bar.advance(static_cast<int64_t>(seqs[0].size()));
  while (seqs[0].size() < static_cast<size_t>(seqlen)) {
    StepPlan plan;
    for (int i = 0; i < samples; ++i) {
      std::vector<int32_t> table(static_cast<size_t>(per_seq));
      std::iota(table.begin(), table.end(), i * per_seq);
      append_sequence(&plan, seqs[i].data() + done[i], static_cast<int32_t>(seqs[i].size()) - done[i], done[i],
                      std::move(table), true, i);
      done[i] = static_cast<int>(seqs[i].size());
    }
    model.forward(plan, logits.data());
    for (int i = 0; i < samples; ++i) {
      const float* row = logits.data() + static_cast<size_t>(i) * vocab;
      std::iota(order.begin(), order.end(), 0);
      const int k = std::min(40, vocab);
      std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int a, int b) { return row[a] > row[b]; });
      std::vector<double> p(static_cast<size_t>(k));
      for (int j = 0; j < k; ++j) p[j] = std::exp(static_cast<double>(row[order[j]] - row[order[0]]));
      std::discrete_distribution<int> pick(p.begin(), p.end());
      seqs[i].push_back(order[pick(rng)]);
    }
    bar.advance();
  }
  bar.finish();
  return seqs;
}

}  // namespace lmd::lite
