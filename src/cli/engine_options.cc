// See engine_options.h.
#include "cli/engine_options.h"

#include "cli/command.h"
#include "core/quant_policy.h"

namespace lmd::cli {

void add_engine_options(CLI::App* cmd, EngineConfig& cfg) {
  cmd->add_option(flag("model_name"), cfg.model_name, "model / chat template name (serve: also the served name)");
  cmd->add_option(flag("chat_template"), cfg.chat_template,
                  "a .jinja file, a JSON file of lmdeploy's template fields, or a template name "
                  "(default: the model's own template, else the one --model-name names)");
  cmd->add_option(flag("session_len"), cfg.session_len, "max tokens of a session (0: the model's)")
      ->capture_default_str();
  cmd->add_option(flag("max_batch_size"), cfg.max_batch_size, "sequences decoded together (the batch)")
      ->capture_default_str();
  cmd->add_option(flag("cache_max_entry_count"), cfg.cache_max_entry_count,
                  "KV pool: fraction of available memory (< 1) or number of blocks (>= 1)")
      ->capture_default_str();
  cmd->add_option(flag("cache_block_seq_len"), cfg.cache_block_seq_len, "tokens per KV block")->capture_default_str();
  cmd->add_option(flag("quant_policy"), cfg.quant_policy,
                  std::string("KV cache: ") + quant_policy_choices() + " (-1: the model's config.ini)")
      ->transform(CLI::Validator(normalize_quant_policy, "0|fp16|4|8|int8|16|int4"))
      ->capture_default_str();
  cmd->add_flag(flag("enable_prefix_caching"), cfg.enable_prefix_caching, "reuse KV of shared prefixes");
  cmd->add_option(flag("max_prefill_token_num"), cfg.max_prefill_token_num, "prefill tokens per step")
      ->capture_default_str();
  cmd->add_option(flag("max_prefill_token_num_decoding"), cfg.max_prefill_token_num_decoding,
                  "prefill tokens per step while other requests decode (0 = max_prefill_token_num)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option(flag("threads"), cfg.threads, "CPU threads (0 = all cores)")->capture_default_str();
  cmd->add_option(flag("device"), cfg.device, "cpu | cuda | auto")->capture_default_str();
  cmd->add_option(flag("tp"), cfg.tp, "tensor parallel size (ranks; heads must divide by it)")->capture_default_str();
  cmd->add_option(flag("numerics"), cfg.numerics,
                  "fast | exact (fp32 activations) | llama.cpp (its CPU float ops, slow)")
      ->check(CLI::IsMember({"fast", "exact", "llama.cpp"}))
      ->capture_default_str();
}

KvKind parse_kv_flag(const std::string& value) {
  if (value == "f32") return KvKind::kF32;
  return kv_kind_for_quant_policy(parse_quant_policy_value(value, "--kv"));
}

}  // namespace lmd::cli
