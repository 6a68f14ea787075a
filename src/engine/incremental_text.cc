#include "engine/incremental_text.h"

namespace lmd {

bool ends_incomplete_utf8(const std::string& s) {
  static const std::string kReplacement = "\xEF\xBF\xBD";
  if (s.size() >= 3 && s.compare(s.size() - 3, 3, kReplacement) == 0) return true;
  // Walk back over continuation bytes to the lead byte of the last character.
  size_t cont = 0;
  size_t i = s.size();
  while (i > 0 && cont < 4) {
    const unsigned char c = static_cast<unsigned char>(s[i - 1]);
    if ((c & 0xC0) != 0x80) {
      size_t need = 1;
      if ((c & 0xE0) == 0xC0) need = 2;
      else if ((c & 0xF0) == 0xE0) need = 3;
      else if ((c & 0xF8) == 0xF0) need = 4;
      return cont + 1 < need;
    }
    ++cont;
    --i;
  }
  return false;
}

IncrementalText::IncrementalText(const TextCodec& codec, std::vector<int32_t> context)
    : codec_(codec), ids_(std::move(context)) {
  prefix_offset_ = 0;
  read_offset_ = ids_.size();
}

std::string IncrementalText::window_text(size_t from, size_t to) const {
  if (from >= to) return {};
  return codec_.decode(std::vector<int32_t>(ids_.begin() + from, ids_.begin() + to));
}

std::string IncrementalText::push(int32_t token) {
  ids_.push_back(token);
  const std::string prefix = window_text(prefix_offset_, read_offset_);
  const std::string full = window_text(prefix_offset_, ids_.size());
  if (full.size() <= prefix.size() || ends_incomplete_utf8(full) || full.compare(0, prefix.size(), prefix) != 0) {
    return {};
  }
  prefix_offset_ = read_offset_;
  read_offset_ = ids_.size();
  return full.substr(prefix.size());
}

std::string IncrementalText::flush() {
  const std::string prefix = window_text(prefix_offset_, read_offset_);
  const std::string full = window_text(prefix_offset_, ids_.size());
  prefix_offset_ = read_offset_ = ids_.size();
  if (full.size() <= prefix.size() || full.compare(0, prefix.size(), prefix) != 0) return {};
  return full.substr(prefix.size());
}

}  // namespace lmd
