#include "convert/tp_split.h"

#include "core/error.h"
#include "core/weight_slices.h"

namespace lmd::convert {

void check_tp(const ModelWeights& w, int tp) {
  const ModelConfig& c = w.config;
  LMD_CHECK(tp >= 1) << "--tp " << tp << ": must be at least 1";
  LMD_CHECK(c.head_num % tp == 0 && c.kv_head_num % tp == 0)
      << "--tp " << tp << ": head_num " << c.head_num << " and kv_head_num " << c.kv_head_num
      << " must both be divisible by the tensor parallel size";
  LMD_CHECK(c.inter_size % tp == 0) << "--tp " << tp << ": inter_size " << c.inter_size
                                    << " must be divisible by the tensor parallel size";
  for (size_t i = 0; i < w.layers.size(); ++i) {
    for (const WeightTensor* t : {&w.layers[i].wo, &w.layers[i].w2}) {
      if (t->group_size <= 0) continue;
      const int64_t cols = t->cols() / tp;
      LMD_CHECK(cols % t->group_size == 0)
          << "--tp " << tp << ": layer " << i << " " << (t == &w.layers[i].wo ? "wo" : "w2") << " splits into "
          << cols << " columns per rank, not a multiple of the quantisation group size " << t->group_size;
    }
  }
}

LayerWeights split_layer(const LayerWeights& l, const ModelConfig& c, int tp, int rank) {
  const int64_t hd = c.size_per_head;
  const int64_t q = c.head_num / tp * hd, kv = c.kv_head_num / tp * hd, inter = c.inter_size / tp;
  LayerWeights o;
  o.attention_norm = l.attention_norm;
  o.ffn_norm = l.ffn_norm;
  o.wq = slice_rows(l.wq, rank * q, q);
  o.wk = slice_rows(l.wk, rank * kv, kv);
  o.wv = slice_rows(l.wv, rank * kv, kv);
  if (!l.bq.empty()) {
    o.bq = slice_rows(l.bq, rank * q, q);
    o.bk = slice_rows(l.bk, rank * kv, kv);
    o.bv = slice_rows(l.bv, rank * kv, kv);
  }
  o.wo = slice_cols(l.wo, rank * q, q);
  if (rank == 0) o.bo = l.bo;  // added once, after the all-reduce's partial sums
  o.w1 = slice_rows(l.w1, rank * inter, inter);
  o.w3 = slice_rows(l.w3, rank * inter, inter);
  o.w2 = slice_cols(l.w2, rank * inter, inter);
  o.past_kv_scale = l.past_kv_scale;  // per layer, the same for every rank (lite kv_qparams)
  return o;
}

ModelWeights merge_ranks(const std::vector<ModelWeights>& ranks) {
  LMD_CHECK(!ranks.empty()) << "merge_ranks: no ranks";
  ModelWeights w;
  w.config = ranks[0].config;
  w.config.tensor_para_size = 1;
  w.tok_embeddings = ranks[0].tok_embeddings;
  w.norm = ranks[0].norm;
  w.output = ranks[0].output;
  w.layers.resize(ranks[0].layers.size());
  for (size_t i = 0; i < w.layers.size(); ++i) {
    auto gather = [&](WeightTensor LayerWeights::*m) {
      std::vector<const WeightTensor*> v;
      for (const ModelWeights& r : ranks) v.push_back(&(r.layers[i].*m));
      return v;
    };
    LayerWeights& L = w.layers[i];
    L.attention_norm = ranks[0].layers[i].attention_norm;
    L.ffn_norm = ranks[0].layers[i].ffn_norm;
    L.wq = concat_rows(gather(&LayerWeights::wq));
    L.wk = concat_rows(gather(&LayerWeights::wk));
    L.wv = concat_rows(gather(&LayerWeights::wv));
    if (!ranks[0].layers[i].bq.empty()) {
      L.bq = concat_rows(gather(&LayerWeights::bq));
      L.bk = concat_rows(gather(&LayerWeights::bk));
      L.bv = concat_rows(gather(&LayerWeights::bv));
    }
    L.wo = concat_cols(gather(&LayerWeights::wo));
    L.bo = ranks[0].layers[i].bo;
    L.w1 = concat_rows(gather(&LayerWeights::w1));
    L.w3 = concat_rows(gather(&LayerWeights::w3));
    L.w2 = concat_cols(gather(&LayerWeights::w2));
    L.past_kv_scale = ranks[0].layers[i].past_kv_scale;
  }
  return w;
}

std::vector<ModelWeights> split_model(const ModelWeights& w, int tp) {
  LMD_CHECK(w.config.tensor_para_size == 1)
      << "split_model: the weights are already split for tensor_para_size " << w.config.tensor_para_size;
  check_tp(w, tp);
  std::vector<ModelWeights> ranks(tp);
  for (int r = 0; r < tp; ++r) {
    ModelWeights& o = ranks[r];
    o.config = w.config;
    o.config.tensor_para_size = tp;
    o.tok_embeddings = w.tok_embeddings;
    o.norm = w.norm;
    o.output = w.output;
    o.layers.reserve(w.layers.size());
    for (const LayerWeights& l : w.layers) o.layers.push_back(split_layer(l, w.config, tp, r));
  }
  return ranks;
}

}  // namespace lmd::convert
