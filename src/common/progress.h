// A one-line progress bar on stderr: "label [#####.....] 12/30". Redrawn in place when
// stderr is a terminal; otherwise silent until finish(), which always prints the final
// line (so logs still say what happened).
#pragma once

#include <cstdint>
#include <string>

namespace lmd {

class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  void advance(int64_t n = 1);       // done += n, redraws at most ~20 times a second
  void finish(const std::string& suffix = "");  // final line (idempotent)

 private:
  void draw(bool final_line, const std::string& suffix);
  std::string label_;
  int64_t total_;
  int64_t done_ = 0;
  bool tty_;
  bool finished_ = false;
  int64_t last_draw_ms_ = 0;
};

}  // namespace lmd
