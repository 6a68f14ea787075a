// `lmdeploy convert MODEL_NAME MODEL_PATH [...]`: flags -> convert::convert_model.
#include <cstdio>
#include <memory>

#include "cli/command.h"
#include "convert/convert.h"

namespace {

void run_convert(const lmd::convert::ConvertOptions& o) {
  const lmd::convert::ConvertSummary s = lmd::convert::convert_model(o);
  std::printf("converted %s (%s, tp %d): %lld tensors in %lld files, %.1f MB -> %s/triton_models\n",
              o.model_path.c_str(), s.model_format.c_str(), s.tp, static_cast<long long>(s.tensors),
              static_cast<long long>(s.written.files), static_cast<double>(s.written.bytes) / (1024.0 * 1024.0),
              s.dst_path.c_str());
}

LMD_REGISTER_COMMAND(10, [](CLI::App& root) {
  using lmd::cli::flag;
  auto opts = std::make_shared<lmd::convert::ConvertOptions>();
  CLI::App* cmd = root.add_subcommand("convert", "Convert an HF / AWQ / GGUF model into a TurboMind workspace");
  cmd->add_option("model_name", opts->model_name, "chat template name written to config.ini (e.g. internlm-chat-7b)")
      ->required();
  cmd->add_option("model_path", opts->model_path, "HF or AWQ directory, or a .gguf file")->required();
  cmd->add_option(flag("model_format"), opts->model_format, "hf | awq | gguf (default: detected)");
  cmd->add_option(flag("tokenizer_path"), opts->tokenizer_path, "tokenizer directory or file (default: the model's)");
  cmd->add_option(flag("dst_path"), opts->dst_path, "workspace directory")->capture_default_str();
  cmd->add_option(flag("tp"), opts->tp, "tensor parallel size")->capture_default_str();
  cmd->add_option(flag("group_size"), opts->group_size, "AWQ group size (must match the checkpoint)")
      ->capture_default_str();
  cmd->add_flag(flag("force"), opts->force, "replace the workspace in a non-empty destination");
  cmd->callback([opts] { run_convert(*opts); });
});

}  // namespace
