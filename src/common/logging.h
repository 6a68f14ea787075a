// Logging goes through spdlog (stderr). Library code logs; it never prints to stdout,
// which belongs to the CLI's output (token ids, chat answers).
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace lmd {

// level: trace, debug, info, warn (or warning), error, critical, off — case-insensitive.
// Throws lmd::Error naming the value when it is not one of these.
void set_log_level(const std::string& level);
spdlog::logger& logger();

}  // namespace lmd

#define LMD_LOG_DEBUG(...) ::lmd::logger().debug(__VA_ARGS__)
#define LMD_LOG_INFO(...) ::lmd::logger().info(__VA_ARGS__)
#define LMD_LOG_WARN(...) ::lmd::logger().warn(__VA_ARGS__)
#define LMD_LOG_ERROR(...) ::lmd::logger().error(__VA_ARGS__)
