#include "template/chat_template.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace lmd {
namespace {

// Our smollm2 template renders exactly what the model's own Jinja template renders
// (golden: tools/gen_template_golden.py, jinja2 over the GGUF's tokenizer.chat_template).
TEST(ChatTemplate, Smollm2MatchesTheModelsJinjaTemplate) {
  std::ifstream in(std::string(LMD_TEST_DATA_DIR) + "/template/smollm2_jinja.jsonl");
  ASSERT_TRUE(in.good());
  std::string line;
  std::getline(in, line);  // header
  const ChatTemplate t = get_template("smollm2");
  int cases = 0;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    std::vector<ChatMessage> messages;
    for (const auto& m : j["messages"]) messages.push_back({m["role"], m["content"]});
    EXPECT_EQ(t.messages2prompt(messages), j["prompt"].get<std::string>()) << line;
    ++cases;
  }
  EXPECT_GE(cases, 5);
}

// Interactive turns: the first turn renders system + user; later turns continue the
// session whose previous answer ended with eoa, so prompt(turn1) + answer + eoa +
// prompt(turn2, !start) == messages2prompt(all messages).
TEST(ChatTemplate, InteractiveTurnsConcatenateToTheWholeConversation) {
  for (const auto& name : {"smollm2", "qwen-7b", "internlm-chat-7b", "vicuna"}) {
    const ChatTemplate t = get_template(name);
    const std::string whole = t.messages2prompt(
        {{"user", "hello"}, {"assistant", "hi there"}, {"user", "how are you?"}});
    const std::string turns = t.get_prompt("hello", true) + "hi there" + t.eoa + t.get_prompt("how are you?", false);
    EXPECT_EQ(turns, whole) << name;
  }
}

TEST(ChatTemplate, InternLMMatchesTheSeedTutorial) {
  const ChatTemplate t = get_template("internlm-chat-7b");
  const std::string p = t.get_prompt("你好啊兄嘚");
  EXPECT_EQ(p.rfind("<|System|>:You are an AI assistant whose name is InternLM (书生·浦语).\n", 0), 0u);
  EXPECT_NE(p.find("\n<|User|>:你好啊兄嘚\n<|Bot|>:"), std::string::npos);
  EXPECT_EQ(p.substr(p.size() - 8), "<|Bot|>:");
}

TEST(ChatTemplate, BaseIsCompletion) {
  EXPECT_EQ(get_template("base").get_prompt("once upon a time"), "once upon a time");
}

TEST(ChatTemplate, UnknownNameAndRoleAreClearErrors) {
  try {
    get_template("gpt-9");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("gpt-9"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("smollm2"), std::string::npos);
  }
  try {
    get_template("smollm2").messages2prompt({{"user", "a"}, {"robot", "b"}});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("messages[1].role"), std::string::npos);
  }
}

TEST(ChatTemplate, ResolveRule) {
  EXPECT_EQ(resolve_template_name("llama2", "<|im_start|>"), "llama2");
  EXPECT_EQ(resolve_template_name("", "{{'<|im_start|>system\nYou are a helpful AI assistant named SmolLM'}}"),
            "smollm2");
  EXPECT_EQ(resolve_template_name("my-model", "<|im_start|>"), "qwen-7b");
  EXPECT_EQ(resolve_template_name("", "[INST] {{x}}"), "llama2");
  EXPECT_EQ(resolve_template_name("", ""), "base");
}

TEST(ChatTemplate, CustomJsonFileAndItsErrors) {
  const std::string path = ::testing::TempDir() + "/tpl.json";
  {
    std::ofstream(path) << R"({"model_name": "mine", "system": "S:", "meta_instruction": "be nice",
      "eosys": "\n", "user": "U:", "eoh": "\n", "assistant": "A:", "eoa": "<end>", "separator": "\n",
      "stop_words": ["<end>"], "session_len": 1024})";
  }
  const ChatTemplate t = load_template_json(path);
  EXPECT_EQ(t.get_prompt("q"), "S:be nice\nU:q\nA:");
  EXPECT_EQ(t.stop_words, std::vector<std::string>{"<end>"});
  EXPECT_EQ(t.session_len, 1024);
  { std::ofstream(path) << R"({"usr": "U:"})"; }
  EXPECT_THROW(load_template_json(path), Error);
  { std::ofstream(path) << R"({"user": 3})"; }
  EXPECT_THROW(load_template_json(path), Error);
  { std::ofstream(path) << "{not json"; }
  EXPECT_THROW(load_template_json(path), Error);
  EXPECT_THROW(load_template_json(path + ".missing"), Error);
}

}  // namespace
}  // namespace lmd
