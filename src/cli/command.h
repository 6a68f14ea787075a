// Sub-commands register themselves (one cmd_*.cc each) so main.cc never changes when one
// is added. A cmd_*.cc only parses flags and calls into the library.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

namespace lmd::cli {

// `setup` adds the command's sub-app (and its callback) to the root app.
using CommandSetup = std::function<void(CLI::App& root)>;
bool register_command(int order, CommandSetup setup);

// The sub-app `name` of `parent`, created with `description` on first use (for command
// groups such as `serve` and `lite`).
CLI::App& command_group(CLI::App& parent, const std::string& name, const std::string& description);

// "--dst_path,--dst-path" from "dst_path": lmdeploy v0.1 spelled flags with underscores,
// newer versions with dashes; users type both.
std::string flag(const std::string& underscore_name);

}  // namespace lmd::cli

#define LMD_CLI_CONCAT2(a, b) a##b
#define LMD_CLI_CONCAT(a, b) LMD_CLI_CONCAT2(a, b)
// LMD_REGISTER_COMMAND(order, [](CLI::App& root) { ... });  order sorts the help listing.
#define LMD_REGISTER_COMMAND(order, ...) \
  static const bool LMD_CLI_CONCAT(lmd_cmd_registered_, __LINE__) = ::lmd::cli::register_command(order, __VA_ARGS__)
