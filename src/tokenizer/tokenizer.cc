#include "tokenizer/tokenizer.h"

#include "core/error.h"
#include "common/utf8.h"

namespace lmd {

void Tokenizer::check_id(int32_t id) const {
  LMD_CHECK(id >= 0 && id < vocab_size()) << "token id " << id << " outside the vocabulary [0, " << vocab_size() << ")";
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
  std::string bytes;
  bool first = true;
  for (int32_t id : ids) {
    check_id(id);
    if (skip_special && is_special(id)) continue;
    bytes += piece_bytes(id, first);
    first = false;
  }
  return utf8::sanitize(bytes);
}

}  // namespace lmd
