#include "convert/tp_split.h"

#include <cstring>

#include "common/error.h"

namespace lmd::convert {
namespace {

// Bytes per row of data and of aux (int4/int8 scales); rows() of a vector is its length.
int64_t data_row_bytes(const WeightTensor& t) { return static_cast<int64_t>(t.data.size()) / t.rows(); }
int64_t aux_row_bytes(const WeightTensor& t) { return t.aux.empty() ? 0 : static_cast<int64_t>(t.aux.size()) / t.rows(); }

// Bytes of data / aux per column, as (numerator, denominator) for int4 halves; aux per group.
void col_geometry(const WeightTensor& t, int64_t c0, int64_t n, int64_t* d0, int64_t* dn, int64_t* a0, int64_t* an) {
  switch (t.dtype) {
    case DType::kInt4:
      LMD_CHECK(c0 % t.group_size == 0 && n % t.group_size == 0)
          << "int4 column split at " << c0 << "+" << n << " is not aligned to group size " << t.group_size;
      *d0 = c0 / 2, *dn = n / 2;
      *a0 = c0 / t.group_size * 4, *an = n / t.group_size * 4;
      break;
    case DType::kI8:
      LMD_CHECK(c0 % t.group_size == 0 && n % t.group_size == 0)
          << "int8 column split at " << c0 << "+" << n << " is not aligned to group size " << t.group_size;
      *d0 = c0, *dn = n;
      *a0 = c0 / t.group_size * 2, *an = n / t.group_size * 2;
      break;
    default: {
      const int64_t es = static_cast<int64_t>(dtype_size(t.dtype));
      *d0 = c0 * es, *dn = n * es, *a0 = 0, *an = 0;
    }
  }
}

}  // namespace

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

WeightTensor slice_rows(const WeightTensor& t, int64_t r0, int64_t n) {
  LMD_CHECK(r0 >= 0 && n >= 0 && r0 + n <= t.rows()) << "row slice " << r0 << "+" << n << " of " << t.rows() << " rows";
  WeightTensor out;
  out.dtype = t.dtype;
  out.group_size = t.group_size;
  out.shape = t.shape;
  out.shape[0] = n;
  const int64_t rb = data_row_bytes(t), ab = aux_row_bytes(t);
  out.data.assign(t.data.begin() + r0 * rb, t.data.begin() + (r0 + n) * rb);
  if (ab) out.aux.assign(t.aux.begin() + r0 * ab, t.aux.begin() + (r0 + n) * ab);
  return out;
}

WeightTensor slice_cols(const WeightTensor& t, int64_t c0, int64_t n) {
  LMD_CHECK(t.shape.size() == 2 && c0 >= 0 && n >= 0 && c0 + n <= t.cols())
      << "column slice " << c0 << "+" << n << " of " << t.cols() << " columns";
  int64_t d0, dn, a0, an;
  col_geometry(t, c0, n, &d0, &dn, &a0, &an);
  WeightTensor out;
  out.dtype = t.dtype;
  out.group_size = t.group_size;
  out.shape = {t.rows(), n};
  const int64_t rb = data_row_bytes(t), ab = aux_row_bytes(t);
  out.data.resize(static_cast<size_t>(t.rows() * dn));
  out.aux.resize(static_cast<size_t>(t.rows() * an));
  for (int64_t r = 0; r < t.rows(); ++r) {
    std::memcpy(out.data.data() + r * dn, t.data.data() + r * rb + d0, dn);
    if (an) std::memcpy(out.aux.data() + r * an, t.aux.data() + r * ab + a0, an);
  }
  return out;
}

WeightTensor concat_rows(const std::vector<const WeightTensor*>& parts) {
  LMD_CHECK(!parts.empty()) << "concat_rows: nothing to concatenate";
  WeightTensor out;
  out.dtype = parts[0]->dtype;
  out.group_size = parts[0]->group_size;
  out.shape = parts[0]->shape;
  out.shape[0] = 0;
  for (const WeightTensor* p : parts) {
    LMD_CHECK(p->dtype == out.dtype && p->group_size == out.group_size && p->shape.size() == out.shape.size() &&
              p->cols() == parts[0]->cols())
        << "concat_rows: parts differ in dtype, group or columns (" << dtype_name(p->dtype) << " vs "
        << dtype_name(out.dtype) << ")";
    out.shape[0] += p->rows();
    out.data.insert(out.data.end(), p->data.begin(), p->data.end());
    out.aux.insert(out.aux.end(), p->aux.begin(), p->aux.end());
  }
  return out;
}

WeightTensor concat_cols(const std::vector<const WeightTensor*>& parts) {
  LMD_CHECK(!parts.empty()) << "concat_cols: nothing to concatenate";
  const WeightTensor& f = *parts[0];
  int64_t cols = 0;
  for (const WeightTensor* p : parts) {
    LMD_CHECK(p->dtype == f.dtype && p->group_size == f.group_size && p->rows() == f.rows() && p->shape.size() == 2)
        << "concat_cols: parts differ in dtype, group or rows";
    cols += p->cols();
  }
  WeightTensor out;
  out.dtype = f.dtype;
  out.group_size = f.group_size;
  out.shape = {f.rows(), cols};
  int64_t d0, dn, a0, an;
  col_geometry(out, 0, cols, &d0, &dn, &a0, &an);
  out.data.resize(static_cast<size_t>(f.rows() * dn));
  out.aux.resize(static_cast<size_t>(f.rows() * an));
  int64_t doff = 0, aoff = 0;
  for (const WeightTensor* p : parts) {
    const int64_t rb = data_row_bytes(*p), ab = aux_row_bytes(*p);
    for (int64_t r = 0; r < f.rows(); ++r) {
      std::memcpy(out.data.data() + r * dn + doff, p->data.data() + r * rb, rb);
      if (ab) std::memcpy(out.aux.data() + r * an + aoff, p->aux.data() + r * ab, ab);
    }
    doff += rb;
    aoff += ab;
  }
  return out;
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
