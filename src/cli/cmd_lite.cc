// `lmdeploy lite ppl | calibrate | kv_qparams | auto_awq`: flags -> src/lite.
#include <cstdio>
#include <memory>

#include "cli/command.h"
#include "core/error.h"
#include "core/quant_policy.h"
#include "lite/awq.h"
#include "lite/calibrate.h"
#include "lite/kv_qparams.h"
#include "lite/ppl.h"

namespace {

// lmdeploy's Python CLI takes booleans as words ("--kv_sym False").
bool parse_bool_word(const std::string& flag_name, const std::string& v) {
  if (v == "True" || v == "true" || v == "1" || v == "yes") return true;
  if (v == "False" || v == "false" || v == "0" || v == "no") return false;
  throw CLI::ValidationError(flag_name, "expected True or False, got '" + v + "'");
}

// lmdeploy's lite commands take --device (cuda there); these run on the CPU only, so cpu is
// accepted and anything else is refused rather than silently ignored.
void add_cpu_device_flag(CLI::App* cmd) {
  const std::string command = cmd->get_name();
  cmd->add_option(lmd::cli::flag("device"))
      ->description("cpu (lite " + command + " runs on the CPU only)")
      ->type_name("TEXT")
      ->default_str("cpu")
      ->transform(CLI::Validator(
          [command](std::string& device) {
            if (device != "cpu") {
              throw lmd::Error("--device " + device + ": lite " + command +
                               " runs on the CPU only (pass --device cpu or leave the flag out)");
            }
            return std::string();
          },
          ""));
}

void add_ppl(CLI::App& lite) {
  using lmd::cli::flag;
  auto o = std::make_shared<lmd::lite::PplOptions>();
  CLI::App* cmd = lite.add_subcommand("ppl", "Perplexity of a model on a text file (KV / weight quantisation quality)");
  cmd->add_option("model", o->model, "workspace, HF / AWQ directory or .gguf")->required();
  cmd->add_option(flag("dataset"), o->dataset, "text file or JSON lines with a \"text\" field")->required();
  cmd->add_option(flag("quant_policy"), o->quant_policy,
                  "KV cache: 0|fp16, 4|8|int8, 16|int4 (default: the model's config.ini)")
      ->transform(CLI::Validator(lmd::normalize_quant_policy, "0|fp16|4|8|int8|16|int4"));
  auto kv_online = std::make_shared<bool>(false);
  cmd->add_flag(flag("kv_online"), *kv_online, "int8: quantise per token even when past_kv_scale is present");
  cmd->add_option(flag("max_tokens"), o->max_tokens, "score at most N tokens of the file (0: all)")
      ->capture_default_str();
  cmd->add_option(flag("window"), o->window, "tokens per window (0: the model's session_len)")->capture_default_str();
  cmd->add_option(flag("threads"), o->threads, "CPU threads (0: all)");
  cmd->add_flag(flag("exact"), o->exact, "fp32 activations in every linear");
  cmd->add_option(flag("tp"), o->tp, "tensor parallel size (ranks are threads)")->capture_default_str();
  cmd->callback([o, kv_online] {
    o->kv_static = !*kv_online;
    const lmd::lite::PplResult r = lmd::lite::run_ppl(*o);
    std::printf("ppl %.4f  (kv %s, %lld tokens scored in %d windows of <= %d, mean nll %.5f)\n", r.ppl, r.kv.c_str(),
                static_cast<long long>(r.tokens_scored), r.windows, r.window,
                r.nll_sum / static_cast<double>(r.tokens_scored));
  });
}

void add_calibrate(CLI::App& lite) {
  using lmd::cli::flag;
  auto o = std::make_shared<lmd::lite::CalibrateOptions>();
  CLI::App* cmd = lite.add_subcommand("calibrate", "Record activation and K/V statistics (for kv_qparams, auto_awq)");
  cmd->add_option("model_pos", o->model, "model path (or --model)");
  cmd->add_option(flag("model"), o->model, "workspace, HF directory or .gguf");
  cmd->add_option(flag("calib_dataset"), o->dataset,
                  "text / JSON-lines file, c4|ptb|wikitext2|pileval (from $LMDEPLOY_CACHE_DIR/datasets/NAME), or self")
      ->capture_default_str();
  cmd->add_option(flag("calib_samples"), o->samples, "samples")->capture_default_str();
  cmd->add_option(flag("calib_seqlen"), o->seqlen, "tokens per sample")->capture_default_str();
  cmd->add_option(flag("work_dir"), o->work_dir, "output directory")->capture_default_str();
  cmd->add_option(flag("seed"), o->seed, "sampling seed")->capture_default_str();
  add_cpu_device_flag(cmd);
  cmd->add_option(flag("threads"), o->threads, "CPU threads (0: all)");
  cmd->callback([o] {
    if (o->model.empty()) throw CLI::RequiredError("--model");
    const lmd::lite::CalibStats s = lmd::lite::run_calibrate(*o);
    std::printf("calibrated %s on %lld tokens (%d x %d from %s): %s/calib_stats.safetensors, calib_meta.json\n",
                o->model.c_str(), static_cast<long long>(s.meta.tokens), s.meta.samples, s.meta.seqlen,
                s.meta.dataset.c_str(), o->work_dir.c_str());
  });
}

void add_kv_qparams(CLI::App& lite) {
  using lmd::cli::flag;
  auto o = std::make_shared<lmd::lite::KvQparamsOptions>();
  auto sym = std::make_shared<std::string>("False");
  CLI::App* cmd = lite.add_subcommand("kv_qparams", "Static int8 KV parameters from calibration statistics");
  cmd->add_option("work_dir_pos", o->work_dir, "WORK_DIR (or --work_dir)");
  cmd->add_option("turbomind_dir_pos", o->turbomind_dir, "TURBOMIND_DIR (or --turbomind_dir)");
  cmd->add_option(flag("work_dir"), o->work_dir, "calibrate's output")->capture_default_str();
  cmd->add_option(flag("turbomind_dir"), o->turbomind_dir, "workspace/triton_models/weights");
  cmd->add_option(flag("kv_bits"), o->kv_bits, "bits (8)")->capture_default_str();
  cmd->add_option(flag("kv_sym"), *sym, "True: symmetric [k_scale, v_scale]")->capture_default_str();
  cmd->add_option(flag("num_tp"), o->num_tp, "tensor parallel size of the workspace")->capture_default_str();
  cmd->callback([o, sym] {
    o->kv_sym = parse_bool_word("--kv_sym", *sym);
    const lmd::lite::KvQparamsResult r = lmd::lite::run_kv_qparams(*o);
    std::printf("wrote %d past_kv_scale files (%s) into %s; set quant_policy = 4 in config.ini to use them\n", r.files,
                o->kv_sym ? "symmetric" : "asymmetric", o->turbomind_dir.c_str());
  });
}

void add_auto_awq(CLI::App& lite) {
  using lmd::cli::flag;
  auto o = std::make_shared<lmd::lite::AwqOptions>();
  auto sym = std::make_shared<std::string>("False");
  auto search = std::make_shared<std::string>("True");
  CLI::App* cmd = lite.add_subcommand("auto_awq", "4-bit AWQ weights as an AutoAWQ gemm checkpoint");
  cmd->add_option("model_pos", o->model, "model path (or --model)");
  cmd->add_option(flag("model"), o->model, "HF directory, workspace or .gguf");
  cmd->add_option(flag("w_bits"), o->w_bits, "weight bits (4)")->capture_default_str();
  cmd->add_option(flag("w_sym"), *sym, "symmetric (only False)")->capture_default_str();
  cmd->add_option(flag("w_group_size"), o->w_group_size, "group size")->capture_default_str();
  cmd->add_option(flag("work_dir"), o->work_dir, "output directory (also where calibrate wrote)")
      ->capture_default_str();
  cmd->add_option(flag("calib_dataset"), o->calib_dataset, "default: the one calibrate recorded in work_dir");
  cmd->add_option(flag("calib_samples"), o->calib_samples, "default: as recorded");
  cmd->add_option(flag("calib_seqlen"), o->calib_seqlen, "default: as recorded");
  cmd->add_option(flag("search_scale"), *search, "False: plain round-to-nearest")->capture_default_str();
  cmd->add_option(flag("search_tokens"), o->search_tokens, "activation rows kept per input for the search")
      ->capture_default_str();
  add_cpu_device_flag(cmd);
  cmd->add_option(flag("threads"), o->threads, "CPU threads (0: all)");
  cmd->callback([o, sym, search] {
    if (o->model.empty()) throw CLI::RequiredError("--model");
    o->w_sym = parse_bool_word("--w_sym", *sym);
    o->search_scale = parse_bool_word("--search_scale", *search);
    const lmd::lite::AwqResult r = lmd::lite::run_auto_awq(*o);
    int scaled = 0;
    for (const auto& p : r.pairs) scaled += p.alpha >= 0 ? 1 : 0;
    std::printf("wrote AWQ checkpoint (w%d g%d, %d of %zu smoothing pairs scaled) to %s; next: lmdeploy convert "
                "NAME %s --model-format awq --group-size %d\n",
                o->w_bits, o->w_group_size, scaled, r.pairs.size(), o->work_dir.c_str(), o->work_dir.c_str(),
                o->w_group_size);
  });
}

LMD_REGISTER_COMMAND(60, [](CLI::App& root) {
  CLI::App& lite = lmd::cli::command_group(root, "lite", "Quantisation: ppl, calibrate, kv_qparams, auto_awq");
  add_calibrate(lite);
  add_kv_qparams(lite);
  add_auto_awq(lite);
  add_ppl(lite);
});

}  // namespace
