// IncrementalText (src/engine/incremental_text.h): streamed text never splits a UTF-8
// character, keeps the detokenizer's context, and adds up to decode(all ids) -- on a mock
// codec and on the real tokenizers (byte-level BPE, SentencePiece GGUF, SentencePiece model).
#include "engine/incremental_text.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "common/paths.h"
#include "tests/unit/engine/mock_model.h"
#include "tokenizer/tokenizer.h"
#include "common/utf8.h"

namespace lmd {
namespace {

TEST(IncrementalTextTest, HoldsIncompleteUtf8AndKeepsContext) {
  // Ids 2 and 3 are the two bytes of "é"; 4 is " x"; 5 is "y".
  test::MockCodec codec({"", "", "\xC3", "\xA9", " x", "y"});
  IncrementalText t(codec, {5});
  EXPECT_EQ(t.push(4), " x");
  EXPECT_EQ(t.push(2), "");  // half a character
  EXPECT_EQ(t.push(3), "\xC3\xA9");
  EXPECT_EQ(t.push(2), "");
  EXPECT_EQ(t.flush(), "\xC3");
  EXPECT_TRUE(ends_incomplete_utf8("ab\xE2\x82"));
  EXPECT_FALSE(ends_incomplete_utf8("ab\xE2\x82\xAC"));
  EXPECT_TRUE(ends_incomplete_utf8("ab\xEF\xBF\xBD"));
}

// The engine's view of a real tokenizer: special tokens decode to nothing.
class TokenizerText : public TextCodec {
 public:
  explicit TokenizerText(std::unique_ptr<Tokenizer> t) : tok_(std::move(t)) {}
  std::vector<int32_t> encode(const std::string& text, bool add_bos) const override {
    return tok_->encode(text, add_bos, /*parse_special=*/true);
  }
  std::string decode(const std::vector<int32_t>& ids) const override { return tok_->decode(ids, true); }
  int32_t eos_id() const override { return tok_->eos_id(); }
  int32_t token_id(const std::string& piece) const override { return tok_->token_to_id(piece); }

 private:
  std::unique_ptr<Tokenizer> tok_;
};

std::string data_path(const std::string& name) { return std::string(LMD_TEST_DATA_DIR) + "/tokenizer/" + name; }

TokenizerText load(const std::string& path) { return TokenizerText(load_tokenizer(path)); }

std::vector<std::string> corpus() {
  std::ifstream in(data_path("corpus.jsonl"));
  EXPECT_TRUE(in.good()) << "corpus.jsonl missing: run tools/gen_tokenizer_golden.py";
  std::vector<std::string> out;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line).get<std::string>());
  return out;
}

// Streams every corpus string's ids (BOS and parsed special tokens included) one at a time:
// each chunk is valid UTF-8, a token that ends inside a character yields nothing, and the
// chunks add up to decode(ids).
void check_streaming(const TextCodec& codec) {
  size_t held_back = 0;
  for (const std::string& text : corpus()) {
    const std::vector<int32_t> ids = codec.encode(text, /*add_bos=*/true);
    IncrementalText stream(codec, {});
    std::string streamed;
    for (size_t i = 0; i < ids.size(); ++i) {
      const std::string chunk = stream.push(ids[i]);
      EXPECT_TRUE(utf8::is_valid(chunk)) << "chunk of " << nlohmann::json(text).dump();
      if (ends_incomplete_utf8(codec.decode(std::vector<int32_t>(ids.begin(), ids.begin() + i + 1)))) {
        EXPECT_EQ(chunk, "") << "token " << i << " of " << nlohmann::json(text).dump();
        ++held_back;
      }
      streamed += chunk;
    }
    streamed += stream.flush();
    EXPECT_EQ(streamed, codec.decode(ids)) << nlohmann::json(text).dump();
  }
  // The corpus has CJK and emoji: some token must end inside a character.
  EXPECT_GT(held_back, 0u);
}

TEST(IncrementalTextTest, ByteLevelBpeStreamsLikeDecode) {
  const char* env = std::getenv("LMD_MODEL_PATH");
  const std::string path = env && *env ? env : default_model_path();
  ASSERT_TRUE(std::filesystem::exists(path)) << path << " missing: run tools/fetch_model.sh (or set LMD_MODEL_PATH)";
  check_streaming(load(path));
}

TEST(IncrementalTextTest, SpmGgufStreamsLikeDecode) { check_streaming(load(data_path("tiny_spm.gguf"))); }

TEST(IncrementalTextTest, SentencePieceModelStreamsLikeDecode) {
  check_streaming(load(data_path("tiny_spm.model")));
}

TEST(IncrementalTextTest, ByteTokensOfOneCharacterWaitForTheLast) {
  const TokenizerText codec = load(data_path("tiny_spm.gguf"));
  // "🎉" is not in the tiny vocabulary: 4 byte tokens after the dummy-prefix "▁".
  const std::vector<int32_t> ids = codec.encode("🎉", false);
  ASSERT_EQ(ids.size(), 5u);
  IncrementalText stream(codec, {});
  EXPECT_EQ(stream.push(ids[0]), "");  // the dummy prefix space is dropped at the start
  EXPECT_EQ(stream.push(ids[1]), "");
  EXPECT_EQ(stream.push(ids[2]), "");
  EXPECT_EQ(stream.push(ids[3]), "");
  EXPECT_EQ(stream.push(ids[4]), "🎉");
  EXPECT_EQ(stream.flush(), "");
}

TEST(IncrementalTextTest, SpmLeadingSpaceKeptAfterTheContext) {
  const TokenizerText codec = load(data_path("tiny_spm.gguf"));
  // Without context a text's first SentencePiece space is the dummy prefix: dropped.
  IncrementalText alone(codec, {});
  std::string out;
  for (int32_t id : codec.encode("the license", true)) out += alone.push(id);
  EXPECT_EQ(out + alone.flush(), "the license");
  // After a prompt ("the") the first generated token's space is a real one: kept.
  const std::vector<int32_t> ids = codec.encode("the license", true);
  size_t prompt = 1;
  while (prompt < ids.size() && codec.decode({ids.begin(), ids.begin() + prompt}) != "the") ++prompt;
  ASSERT_LT(prompt, ids.size());
  IncrementalText after_prompt(codec, {ids.begin(), ids.begin() + prompt});
  out.clear();
  for (size_t i = prompt; i < ids.size(); ++i) out += after_prompt.push(ids[i]);
  EXPECT_EQ(out + after_prompt.flush(), " license");
}

TEST(IncrementalTextTest, TruncatedAndInvalidBytesBecomeReplacementCharacters) {
  const TokenizerText codec = load(data_path("tiny_spm.gguf"));
  const int32_t e4 = codec.token_id("<0xE4>");
  const int32_t bd = codec.token_id("<0xBD>");
  const int32_t a = codec.token_id("<0x41>");
  ASSERT_GE(e4, 0);
  ASSERT_GE(bd, 0);
  ASSERT_GE(a, 0);
  const std::vector<int32_t> ids = {e4, bd, a, bd, e4};
  IncrementalText stream(codec, {});
  std::string out;
  for (int32_t id : ids) out += stream.push(id);
  out += stream.flush();
  // E4 BD is an unfinished 3-byte sequence cut by 'A'; a lone BD; a trailing E4.
  EXPECT_EQ(out, "\xEF\xBF\xBD" "A" "\xEF\xBF\xBD" "\xEF\xBF\xBD");
  EXPECT_EQ(out, codec.decode(ids));
}

}  // namespace
}  // namespace lmd
