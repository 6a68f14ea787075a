// Row / column slices and concatenations of matrices in any WeightTensor dtype; quantised
// tensors carry their per-row scale data along (an int4 / int8 column slice must keep whole
// groups). Vectors ([n]) slice like [n, 1]. Used by the tensor-parallel split (convert) and
// by a model rank taking its slice of a shared tensor (the lm head).
#pragma once

#include <cstdint>
#include <vector>

#include "core/weights.h"

namespace lmd {

WeightTensor slice_rows(const WeightTensor& t, int64_t r0, int64_t n);
WeightTensor slice_cols(const WeightTensor& t, int64_t c0, int64_t n);
WeightTensor concat_rows(const std::vector<const WeightTensor*>& parts);
WeightTensor concat_cols(const std::vector<const WeightTensor*>& parts);

}  // namespace lmd
