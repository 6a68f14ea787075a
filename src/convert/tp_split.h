// Tensor-parallel split of ModelWeights (lmdeploy's rules): q/k/v by heads (rank r gets
// head_num/tp q heads and kv_head_num/tp kv heads), w1/w3 by rows, wo/w2 by columns
// (an int4/int8 column split must keep whole groups). Embeddings, norms and output are
// not split. merge_ranks() is the exact inverse (tests: tp shards concatenate back).
#pragma once

#include <cstdint>
#include <vector>

#include "core/weight_slices.h"
#include "core/weights.h"

namespace lmd::convert {

// Throws naming the counts when `cfg` cannot be split `tp` ways (heads, kv heads,
// inter_size, and the group alignment of every column-split grouped tensor in `w`).
void check_tp(const ModelWeights& w, int tp);

// Rank `rank`'s slices of one layer (norms copied).
LayerWeights split_layer(const LayerWeights& l, const ModelConfig& cfg, int tp, int rank);
// Inverse of split_layer over all ranks: ranks[r] are load_rank(ws, r) results.
ModelWeights merge_ranks(const std::vector<ModelWeights>& ranks);
// The whole model `w` (tensor_para_size 1) as `tp` ranks' weights, what load_rank would
// give for a workspace converted with --tp tp: config whole with tensor_para_size = tp,
// layers split_layer'ed, embeddings / norm / output copied to every rank. check_tp first.
std::vector<ModelWeights> split_model(const ModelWeights& w, int tp);

}  // namespace lmd::convert
