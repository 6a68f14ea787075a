// Use TurboMind-on-CPU from C++: load a model, ask two questions in one session (the
// second turn reuses the first turn's KV cache), stream the answers.
//
//   ./example_cpp [MODEL_PATH]   (default: the SmolLM2 GGUF in ~/.cache/lmdeploy)
#include <cstdio>
#include <cstdlib>
#include <string>

#include "lmdeploy/engine.h"

namespace {

std::string chatml(const std::string& question, bool first) {
  std::string p = first ? "" : "\n";
  return p + "<|im_start|>user\n" + question + "<|im_end|>\n<|im_start|>assistant\n";
}

void ask(lmd::Engine& engine, const std::string& question, bool first) {
  lmd::Request req;
  req.session_id = 1;
  req.sequence_start = first;  // the second turn continues the session
  req.sequence_end = false;    // keep the KV for the next turn
  req.prompt_ids = engine.encode(chatml(question, first), /*add_bos=*/first);
  req.gen.temperature = 0.0f;  // greedy
  req.gen.max_new_tokens = 48;
  req.gen.stop_token_ids = {engine.token_id("<|im_end|>")};
  std::printf("> %s\n", question.c_str());
  auto stream = engine.submit(req);
  while (auto chunk = stream->next()) {
    std::fputs(chunk->text.c_str(), stdout);
    std::fflush(stdout);
    if (chunk->finish_reason == "error") std::fprintf(stderr, "error: %s\n", chunk->error.c_str());
  }
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  const char* home = std::getenv("HOME");
  const std::string path = argc > 1 ? argv[1]
                                    : std::string(home ? home : ".") + "/.cache/lmdeploy/SmolLM2-135M-Instruct.Q4_1.gguf";
  try {
    lmd::EngineConfig cfg;
    cfg.max_batch_size = 1;
    cfg.session_len = 2048;
    auto engine = lmd::Engine::create(path, cfg);
    ask(*engine, "What is the capital of France?", true);
    ask(*engine, "And of Italy?", false);
    const lmd::EngineStats s = engine->stats();
    std::printf("[kv blocks %d total, %d free; prefill tokens %lld; session tokens reused %lld]\n",
                s.kv_blocks_total, s.kv_blocks_free, static_cast<long long>(s.prefill_tokens),
                static_cast<long long>(s.session_reused_tokens));
    engine->end_session(1);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
