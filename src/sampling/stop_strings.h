// Stop strings matched on decoded text, across token boundaries. Text that could be the
// start of a stop string is held back until it is known not to be one; the stop string
// itself (and anything after it) is never emitted.
#pragma once

#include <string>
#include <vector>

namespace lmd {

class StopStringMatcher {
 public:
  explicit StopStringMatcher(std::vector<std::string> stops);
  // Feeds newly decoded text; returns the text that is safe to emit now. Once a stop
  // string is found, matched() is true and the returned text ends right before it.
  std::string push(const std::string& text);
  // The held-back text, when generation ends for another reason.
  std::string flush();
  bool matched() const { return matched_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;  // held back: a suffix that is a prefix of some stop string
  bool matched_ = false;
};

}  // namespace lmd
