// lmdeploy: one binary, sub-commands registered by src/cli/cmd_*.cc.
#include <algorithm>
#include <cstdio>
#include <vector>

#include "cli/command.h"
#include "core/error.h"
#if LMDEPLOY_CUDA_ENABLED
#include "backend/cuda/cuda_backend.h"
#endif

namespace lmd::cli {
namespace {
std::vector<std::pair<int, CommandSetup>>& registry() {
  static std::vector<std::pair<int, CommandSetup>> r;
  return r;
}
}  // namespace

bool register_command(int order, CommandSetup setup) {
  registry().emplace_back(order, std::move(setup));
  return true;
}

CLI::App& command_group(CLI::App& parent, const std::string& name, const std::string& description) {
  for (CLI::App* sub : parent.get_subcommands([](CLI::App*) { return true; })) {
    if (sub->get_name() == name) return *sub;
  }
  CLI::App* g = parent.add_subcommand(name, description);
  g->require_subcommand(1);
  return *g;
}

std::string flag(const std::string& underscore_name) {
  std::string dashed = underscore_name;
  std::replace(dashed.begin(), dashed.end(), '_', '-');
  if (dashed == underscore_name) return "--" + underscore_name;
  return "--" + underscore_name + ",--" + dashed;
}

}  // namespace lmd::cli

int main(int argc, char** argv) {
  CLI::App app{"lmdeploy: compress, deploy and serve large language models (C++ / TurboMind)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", LMDEPLOY_VERSION);
#if LMDEPLOY_CUDA_ENABLED
  lmd::register_cuda_device_kind();  // `--device cuda` (src/backend/device_registry.h)
#endif
  auto& reg = lmd::cli::registry();
  std::stable_sort(reg.begin(), reg.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  try {
    for (auto& [order, setup] : reg) setup(app);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lmdeploy: internal error while setting up commands: %s\n", e.what());
    return 70;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const lmd::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
