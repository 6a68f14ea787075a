// The engine over the real default model (SmolLM2-135M-Instruct Q4_1 GGUF): a few short
// prompts, greedy, alone vs batched with chunked prefill; sessions; a known answer.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <thread>
#include <fstream>

#include "common/paths.h"
#include "engine/chat_session.h"
#include "lmdeploy/engine.h"
#include "template/chat_template.h"

namespace lmd {
namespace {

std::string model_path() {
  const char* env = std::getenv("LMD_MODEL_PATH");
  return env && *env ? env : default_model_path();
}

std::unique_ptr<Engine> open_engine(int max_prefill) {
  const std::string path = model_path();
  if (!std::ifstream(path).good()) {
    ADD_FAILURE() << "model " << path << " not found: run tools/fetch_model.sh (or set LMD_MODEL_PATH)";
    return nullptr;
  }
  EngineConfig cfg;
  cfg.cache_max_entry_count = 48;  // blocks
  cfg.cache_block_seq_len = 16;
  cfg.session_len = 256;
  cfg.max_batch_size = 4;
  cfg.max_prefill_token_num = max_prefill;
  return Engine::create(path, cfg);
}

// A ChatML prompt without the system line (the 135M model answers factual questions
// better without it; llama.cpp does the same on this file).
std::string chatml(const std::string& q) {
  return "<|im_start|>user\n" + q + "<|im_end|>\n<|im_start|>assistant\n";
}

TEST(EngineRealModelTest, BatchedEqualsAloneAndKnowsParis) {
  auto engine = open_engine(/*max_prefill=*/12);
  ASSERT_TRUE(engine);
  EXPECT_EQ(engine->info().model_name, "smollm2");
  const std::vector<std::string> questions = {"What is the capital of France?", "Say hello.", "Name a colour."};
  std::vector<Request> reqs;
  for (const auto& q : questions) {
    Request r;
    r.prompt_ids = engine->encode(chatml(q), true);
    r.gen.temperature = 0.0f;
    r.gen.max_new_tokens = 7;
    reqs.push_back(r);
  }
  std::vector<GenerationOutput> alone;
  for (const auto& r : reqs) alone.push_back(engine->submit(r)->collect());
  EXPECT_NE(alone[0].text.find("Paris"), std::string::npos) << alone[0].text;
  std::vector<std::shared_ptr<OutputStream>> streams;
  for (const auto& r : reqs) streams.push_back(engine->submit(r));
  for (size_t i = 0; i < reqs.size(); ++i) {
    auto out = streams[i]->collect();
    EXPECT_EQ(out.token_ids, alone[i].token_ids) << questions[i];
    EXPECT_EQ(out.text, alone[i].text);
  }
}

// Turn 2 over the session's KV equals a one-shot request over the whole conversation,
// prefills only the new tokens, and remembers turn 1 (the default smollm2 template; the
// 135M model answers "Hello, Bob! ..." here, as llama.cpp does on the same file).
TEST(EngineRealModelTest, SessionRemembersAndPrefillsOnlyNewTokens) {
  auto engine = open_engine(/*max_prefill=*/256);
  ASSERT_TRUE(engine);
  GenerationConfig g;
  g.temperature = 0.0f;
  g.max_new_tokens = 20;
  const ChatTemplate tpl = get_template("smollm2");
  const auto registry = make_registry_formatter(tpl, "smollm2");
  ChatSession chat(*engine, *registry, 42, g);
  auto t1 = chat.ask("Hi, I am Bob.", nullptr);
  ASSERT_NE(t1.finish_reason, "error") << t1.error;
  const EngineStats before = engine->stats();
  const std::string p2 = chat.prompt_for("What is my name?");
  const int new_tokens = static_cast<int>(engine->encode(p2, false).size());
  auto t2 = chat.ask("What is my name?", nullptr);
  EXPECT_NE(t2.text.find("Bob"), std::string::npos) << t2.text;
  EngineStats after = engine->stats();
  // Stats are published after each step, possibly just after the last chunk arrived.
  for (int i = 0; i < 500 && after.requests_finished == before.requests_finished; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    after = engine->stats();
  }
  // The new turn's tokens, plus the last token of the answer (it had no KV yet).
  EXPECT_EQ(after.prefill_tokens - before.prefill_tokens, new_tokens + 1);
  EXPECT_GT(after.session_reused_tokens, before.session_reused_tokens);

  // The same conversation recomputed from scratch in one request.
  std::vector<int32_t> all = engine->encode(tpl.get_prompt("Hi, I am Bob.", true), true);
  all.insert(all.end(), t1.token_ids.begin(), t1.token_ids.end());
  if (t1.finish_reason == "stop") all.push_back(engine->token_id("<|im_end|>"));
  const auto p2_ids = engine->encode(p2, false);
  all.insert(all.end(), p2_ids.begin(), p2_ids.end());
  Request r;
  r.prompt_ids = all;
  r.gen = g;
  r.gen.stop_token_ids = {engine->token_id("<|im_end|>")};
  EXPECT_EQ(engine->submit(r)->collect().token_ids, t2.token_ids);
}

}  // namespace
}  // namespace lmd
