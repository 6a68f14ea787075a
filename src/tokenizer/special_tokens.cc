#include "tokenizer/special_tokens.h"

#include <algorithm>

namespace lmd {

void SpecialTokenMatcher::add(int32_t id, const std::string& text, bool always) {
  if (text.empty()) return;
  Entry e{id, text, always};
  auto pos = std::upper_bound(entries_.begin(), entries_.end(), e,
                              [](const Entry& a, const Entry& b) { return a.text.size() > b.text.size(); });
  entries_.insert(pos, std::move(e));
}

std::vector<TextFragment> SpecialTokenMatcher::split(const std::string& text, bool parse_special) const {
  std::vector<TextFragment> frags;
  if (!text.empty()) frags.push_back({-1, text});
  for (const Entry& e : entries_) {
    if (!e.always && !parse_special) continue;
    std::vector<TextFragment> next;
    next.reserve(frags.size());
    for (TextFragment& f : frags) {
      if (f.token >= 0 || f.text.find(e.text) == std::string::npos) {
        next.push_back(std::move(f));
        continue;
      }
      size_t pos = 0;
      while (true) {
        const size_t hit = f.text.find(e.text, pos);
        if (hit == std::string::npos) break;
        if (hit > pos) next.push_back({-1, f.text.substr(pos, hit - pos)});
        next.push_back({e.id, {}});
        pos = hit + e.text.size();
      }
      if (pos < f.text.size()) next.push_back({-1, f.text.substr(pos)});
    }
    frags = std::move(next);
  }
  return frags;
}

}  // namespace lmd
