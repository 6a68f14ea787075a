#include "convert/rope_permute.h"

#include <cstring>

#include "core/error.h"

namespace lmd::convert {
namespace {

// to_hf: dst row h·d + j·half + i  <-  src row h·d + 2i + j; else the inverse.
void permute(WeightTensor& t, int n_heads, bool to_hf) {
  const int64_t rows = t.rows();
  LMD_CHECK(n_heads > 0 && rows % n_heads == 0 && (rows / n_heads) % 2 == 0)
      << "rope row permutation: " << rows << " rows do not split into " << n_heads << " heads of even size";
  const int64_t d = rows / n_heads, half = d / 2;
  auto move_rows = [&](std::vector<uint8_t>& buf) {
    if (buf.empty()) return;
    const int64_t rb = static_cast<int64_t>(buf.size()) / rows;
    std::vector<uint8_t> out(buf.size());
    for (int64_t h = 0; h < n_heads; ++h) {
      for (int64_t i = 0; i < half; ++i) {
        for (int64_t j = 0; j < 2; ++j) {
          const int64_t gguf_row = h * d + 2 * i + j, hf_row = h * d + j * half + i;
          const int64_t dst = to_hf ? hf_row : gguf_row, src = to_hf ? gguf_row : hf_row;
          std::memcpy(out.data() + dst * rb, buf.data() + src * rb, rb);
        }
      }
    }
    buf.swap(out);
  };
  move_rows(t.data);
  move_rows(t.aux);
}

}  // namespace

void unpermute_gguf_rows(WeightTensor& t, int n_heads) { permute(t, n_heads, true); }
void permute_to_gguf_rows(WeightTensor& t, int n_heads) { permute(t, n_heads, false); }

}  // namespace lmd::convert
