#include "common/progress.h"

#include <chrono>
#include <cstdio>
#include <unistd.h>

namespace lmd {
namespace {
int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}
}  // namespace

ProgressBar::ProgressBar(std::string label, int64_t total)
    : label_(std::move(label)), total_(total < 0 ? 0 : total), tty_(::isatty(STDERR_FILENO) == 1) {}

ProgressBar::~ProgressBar() {
  // An unfinished bar (an error was thrown) must not leave the cursor mid-line.
  if (tty_ && !finished_ && done_ > 0) std::fputc('\n', stderr);
}

void ProgressBar::advance(int64_t n) {
  done_ += n;
  if (!tty_) return;
  const int64_t t = now_ms();
  if (t - last_draw_ms_ < 50 && done_ < total_) return;
  last_draw_ms_ = t;
  draw(false, "");
}

void ProgressBar::finish(const std::string& suffix) {
  if (finished_) return;
  finished_ = true;
  draw(true, suffix);
}

void ProgressBar::draw(bool final_line, const std::string& suffix) {
  constexpr int kWidth = 30;
  const int filled = total_ > 0 ? static_cast<int>(kWidth * (done_ > total_ ? total_ : done_) / total_) : kWidth;
  std::string bar(filled, '#');
  bar.append(kWidth - filled, '.');
  std::fprintf(stderr, "%s%s [%s] %lld/%lld%s%s", tty_ ? "\r" : "", label_.c_str(), bar.c_str(),
               static_cast<long long>(done_), static_cast<long long>(total_), suffix.empty() ? "" : " ",
               suffix.c_str());
  if (final_line) std::fputc('\n', stderr);
  std::fflush(stderr);
}

}  // namespace lmd
