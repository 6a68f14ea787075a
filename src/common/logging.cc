#include "common/logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <algorithm>
#include <cctype>

#include "core/error.h"

namespace lmd {

spdlog::logger& logger() {
  static std::shared_ptr<spdlog::logger> instance = [] {
    auto l = spdlog::stderr_color_mt("lmdeploy");
    l->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%^%l%$] %v");
    l->set_level(spdlog::level::warn);
    return l;
  }();
  return *instance;
}

void set_log_level(const std::string& level) {
  std::string v = level;
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
  if (v == "warning") v = "warn";
  auto parsed = spdlog::level::from_str(v);
  // from_str returns off for unknown names; only accept "off" when asked for.
  LMD_CHECK(parsed != spdlog::level::off || v == "off")
      << "unknown log level '" << level << "' (expected trace, debug, info, warning, error, critical, off)";
  logger().set_level(parsed);
}

}  // namespace lmd
