// `lmdeploy chat [turbomind] [PATH]`: a terminal chat over the engine (flags -> EngineConfig
// and GenerationConfig; the conversation logic is lmd::ChatSession).
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "cli/command.h"
#include "cli/engine_options.h"
#include "core/error.h"
#include "common/logging.h"
#include "common/paths.h"
#include "engine/chat_session.h"
#include "lmdeploy/engine.h"

namespace {

struct ChatOptions {
  std::string backend_or_path;
  std::string path;
  int64_t session_id = 1;
  lmd::EngineConfig engine;
  lmd::GenerationConfig gen;
  std::string prompt;
  bool has_prompt = false;
  std::string log_level = "warning";
  uint64_t seed = 0;
  bool has_seed = false;
  std::string cap;
  bool stream_output = true;
};

// Reads lines until an empty one (the seed's "double enter"); false at end of input.
bool read_input(std::string* out) {
  std::printf("\ndouble enter to end input >>> ");
  std::fflush(stdout);
  out->clear();
  std::string line;
  bool any = false;
  while (std::getline(std::cin, line)) {
    any = true;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) {
      if (out->empty()) continue;  // a bare Enter before any text
      return true;
    }
    if (!out->empty()) *out += "\n";
    *out += line;
  }
  return any && !out->empty();
}

void run_chat(ChatOptions o) {
  lmd::set_log_level(o.log_level);
  if (o.backend_or_path == "pytorch") throw lmd::Error("chat: backend 'pytorch' is not available; use turbomind");
  std::string path = o.backend_or_path == "turbomind" ? o.path : o.backend_or_path;
  if (o.backend_or_path != "turbomind" && !o.path.empty())
    throw lmd::Error("chat: unexpected argument '" + o.path + "' (usage: lmdeploy chat [turbomind] [PATH])");
  if (path.empty()) path = lmd::ensure_default_model();
  if (o.has_seed) o.gen.seed = o.seed;

  auto engine = lmd::Engine::create(path, o.engine);  // resolves --chat-template with the model's own
  lmd::ChatSession chat(*engine, engine->chat_formatter(), o.session_id, o.gen);
  auto print = [](const std::string& s) {
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
  };

  if (o.has_prompt) {
    const lmd::GenerationOutput out = chat.ask(o.prompt, print);
    std::printf("\n");
    if (out.finish_reason == "error") throw lmd::Error(out.error);
    return;
  }
  std::printf("session %lld\n", static_cast<long long>(o.session_id));
  std::string q;
  while (read_input(&q)) {
    if (q == "exit") break;
    if (q == "end") {
      chat.end();
      std::printf("(session %lld ended)\n", static_cast<long long>(o.session_id));
      continue;
    }
    print(chat.prompt_for(q) + " ");
    const lmd::GenerationOutput out = chat.ask(q, print);
    std::printf("\n");
    if (out.finish_reason == "error") {
      std::fprintf(stderr, "error: %s (the session was reset)\n", out.error.c_str());
    }
  }
}

LMD_REGISTER_COMMAND(20, [](CLI::App& root) {
  using lmd::cli::flag;
  auto o = std::make_shared<ChatOptions>();
  o->gen.max_new_tokens = 512;
  o->engine.max_batch_size = 1;  // one conversation: the KV pool need not hold more
  CLI::App* cmd = root.add_subcommand("chat", "Chat with a model in the terminal (multi-turn, streaming)");
  cmd->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // a repeated flag: last wins
  cmd->add_option("backend_or_path", o->backend_or_path,
                  "'turbomind' then PATH, or PATH: workspace, HF directory or .gguf (default: SmolLM2)");
  cmd->add_option("path", o->path, "model path when the first argument is 'turbomind'");
  cmd->add_option(flag("session_id"), o->session_id, "session id")->capture_default_str();
  cmd->add_option(flag("temperature"), o->gen.temperature, "sampling temperature (0 = greedy)")->capture_default_str();
  cmd->add_option(flag("top_p"), o->gen.top_p, "nucleus sampling mass (0, 1]")->capture_default_str();
  cmd->add_option(flag("top_k"), o->gen.top_k, "sample among the k most likely (0 = all)")->capture_default_str();
  cmd->add_option(flag("min_p"), o->gen.min_p, "drop tokens below min_p * p(best)")->capture_default_str();
  cmd->add_option(flag("repetition_penalty"), o->gen.repetition_penalty, "CTRL repetition penalty")
      ->capture_default_str();
  cmd->add_option(flag("max_new_tokens"), o->gen.max_new_tokens, "tokens per answer")->capture_default_str();
  cmd->add_flag(flag("ignore_eos"), o->gen.ignore_eos, "do not stop at eos");
  cmd->add_option(flag("seed"), o->seed, "random seed (same seed, same answer)")
      ->each([o](const std::string&) { o->has_seed = true; });
  lmd::cli::add_engine_options(cmd, o->engine);
  cmd->add_option(flag("prompt"), o->prompt, "ask one question, print the answer, exit")
      ->each([o](const std::string&) { o->has_prompt = true; });
  cmd->add_option(flag("log_level"), o->log_level, "trace | debug | info | warning | error")->capture_default_str();
  // Accepted for compatibility with the seed's `chat` (streaming is always on here).
  cmd->add_option("--cap", o->cap, "chat | completion (accepted, chat templates decide)");
  cmd->add_option(flag("stream_output"), o->stream_output, "accepted; output always streams");
  cmd->callback([o] { run_chat(*o); });
});

}  // namespace
