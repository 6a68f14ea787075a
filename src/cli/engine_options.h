// The engine flags, declared once for every command that builds an Engine (chat, serve
// api_server, serve gradio, bench_engine), so they accept the same spellings, checks and
// help. Each flag has both spellings (cli::flag: --max_batch_size / --max-batch-size).
//
//   auto o = std::make_shared<Options>();
//   o->engine.max_batch_size = 64;          // this command's default, shown in --help
//   cli::add_engine_options(cmd, o->engine);
//
// `cfg` must outlive parsing (keep it in the command's shared options). --quant_policy goes
// through the one parser (core/quant_policy.h), so every command gives the same error.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "core/kv_layout.h"
#include "lmdeploy/engine.h"

namespace lmd::cli {

void add_engine_options(CLI::App* cmd, EngineConfig& cfg);

// The KV element kind of the model-level developer commands' --kv (bench_peers, logits,
// logits_batch): "f32" (an unquantised reference cache), or any quant_policy spelling.
KvKind parse_kv_flag(const std::string& value);

}  // namespace lmd::cli
