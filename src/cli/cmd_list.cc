// lmdeploy list: the chat template names.
#include <cstdio>

#include "cli/command.h"
#include "template/chat_template.h"

LMD_REGISTER_COMMAND(60, [](CLI::App& root) {
  CLI::App* cmd = root.add_subcommand("list", "List the chat templates (model names) known to lmdeploy");
  cmd->callback([] {
    std::printf("Supported model names (chat templates):\n");
    for (const auto& name : lmd::template_names()) std::printf("  %s\n", name.c_str());
  });
});
