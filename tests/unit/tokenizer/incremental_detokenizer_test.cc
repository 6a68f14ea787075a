// Streaming detokenization: chunks are always valid UTF-8 and add up to decode(all ids).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/paths.h"
#include "tokenizer/incremental_detokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace lmd {
namespace {

std::string data_path(const std::string& name) { return std::string(LMD_TEST_DATA_DIR) + "/tokenizer/" + name; }

std::vector<std::string> corpus() {
  std::ifstream in(data_path("corpus.jsonl"));
  EXPECT_TRUE(in.good()) << "corpus.jsonl missing: run tools/gen_tokenizer_golden.py";
  std::vector<std::string> out;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line).get<std::string>());
  return out;
}

// Streams every corpus string's ids (with BOS in front) one token at a time.
void check_streaming(const Tokenizer& tok, bool skip_special) {
  IncrementalDetokenizer detok(tok, skip_special);
  size_t held_back = 0;
  for (const std::string& text : corpus()) {
    std::vector<int32_t> ids = tok.encode(text, /*add_bos=*/true, /*parse_special=*/true);
    std::string streamed;
    for (int32_t id : ids) {
      const std::string chunk = detok.push(id);
      EXPECT_TRUE(utf8::is_valid(chunk)) << "chunk of " << nlohmann::json(text).dump();
      held_back += detok.pending_bytes() > 0;
      streamed += chunk;
    }
    streamed += detok.flush();
    EXPECT_EQ(streamed, tok.decode(ids, skip_special)) << nlohmann::json(text).dump();
  }
  // The corpus has CJK and emoji: some token must end inside a character.
  EXPECT_GT(held_back, 0u);
}

TEST(IncrementalDetokenizer, ByteLevelBpeStreamsLikeDecode) {
  const char* env = std::getenv("LMD_MODEL_PATH");
  const std::string path = env && *env ? env : default_model_path();
  ASSERT_TRUE(std::filesystem::exists(path)) << path << " missing: run tools/fetch_model.sh (or set LMD_MODEL_PATH)";
  auto tok = load_tokenizer(path);
  check_streaming(*tok, true);
  check_streaming(*tok, false);
}

TEST(IncrementalDetokenizer, SpmGgufStreamsLikeDecode) {
  auto tok = load_tokenizer(data_path("tiny_spm.gguf"));
  check_streaming(*tok, true);
  check_streaming(*tok, false);
}

TEST(IncrementalDetokenizer, SentencePieceModelStreamsLikeDecode) {
  auto tok = load_tokenizer(data_path("tiny_spm.model"));
  check_streaming(*tok, true);
  check_streaming(*tok, false);
}

TEST(IncrementalDetokenizer, ByteTokensOfOneCharacterWaitForTheLast) {
  auto tok = load_tokenizer(data_path("tiny_spm.gguf"));
  // "🎉" is not in the tiny vocabulary: 4 byte tokens after the dummy-prefix "▁".
  const std::vector<int32_t> ids = tok->encode("🎉", false, false);
  ASSERT_EQ(ids.size(), 5u);
  IncrementalDetokenizer detok(*tok);
  EXPECT_EQ(detok.push(ids[0]), "");  // the dummy prefix space is dropped at the start
  EXPECT_EQ(detok.push(ids[1]), "");
  EXPECT_EQ(detok.push(ids[2]), "");
  EXPECT_EQ(detok.push(ids[3]), "");
  EXPECT_EQ(detok.pending_bytes(), 3u);
  EXPECT_EQ(detok.push(ids[4]), "🎉");
  EXPECT_EQ(detok.flush(), "");
}

TEST(IncrementalDetokenizer, SpmLeadingSpaceOnlyDroppedAtTheStart) {
  auto tok = load_tokenizer(data_path("tiny_spm.gguf"));
  const std::vector<int32_t> ids = tok->encode("the license", true, false);
  IncrementalDetokenizer detok(*tok, /*skip_special=*/true);
  std::string out;
  for (int32_t id : ids) out += detok.push(id);
  EXPECT_EQ(out + detok.flush(), "the license");
  // flush() resets: a second text starts fresh.
  out.clear();
  for (int32_t id : tok->encode(" x", false, false)) out += detok.push(id);
  EXPECT_EQ(out + detok.flush(), " x");
}

TEST(IncrementalDetokenizer, TruncatedAndInvalidBytesBecomeReplacementCharacters) {
  auto tok = load_tokenizer(data_path("tiny_spm.gguf"));
  const int32_t e4 = tok->token_to_id("<0xE4>");
  const int32_t bd = tok->token_to_id("<0xBD>");
  const int32_t a = tok->token_to_id("<0x41>");
  ASSERT_GE(e4, 0);
  ASSERT_GE(bd, 0);
  ASSERT_GE(a, 0);
  const std::vector<int32_t> ids = {e4, bd, a, bd, e4};
  IncrementalDetokenizer detok(*tok);
  std::string out;
  for (int32_t id : ids) out += detok.push(id);
  out += detok.flush();
  // E4 BD is an unfinished 3-byte sequence cut by 'A'; a lone BD; a trailing E4.
  EXPECT_EQ(out, "\xEF\xBF\xBD" "A" "\xEF\xBF\xBD" "\xEF\xBF\xBD");
  EXPECT_EQ(out, tok->decode(ids));
}

}  // namespace
}  // namespace lmd
