// load_tokenizer() over the layouts a model path can have, its error messages, and the
// building blocks (regex pre-tokenizer, special-token split, UTF-8 helpers).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "tokenizer/regex_splitter.h"
#include "tokenizer/special_tokens.h"
#include "tokenizer/tokenizer.h"
#include "common/utf8.h"

namespace lmd {
namespace {

namespace fs = std::filesystem;

std::string data_path(const std::string& name) { return std::string(LMD_TEST_DATA_DIR) + "/tokenizer/" + name; }

// A fresh directory under the system temp dir, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("lmd_tok_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string error_of(const std::string& path) {
  try {
    load_tokenizer(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(TokenizerLoading, MissingPathIsNamed) {
  const std::string msg = error_of("/nonexistent/model.gguf");
  EXPECT_NE(msg.find("/nonexistent/model.gguf"), std::string::npos) << msg;
}

TEST(TokenizerLoading, DirectoryWithoutTokenizerSaysWhatIsMissing) {
  TempDir dir;
  const std::string msg = error_of(dir.path().string());
  EXPECT_NE(msg.find(dir.path().string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("tokenizer.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("tokenizer.model"), std::string::npos) << msg;
}

TEST(TokenizerLoading, WorkspaceWithVocabOnlyGguf) {
  TempDir ws;
  const fs::path tok_dir = ws.path() / "triton_models" / "tokenizer";
  fs::create_directories(tok_dir);
  fs::copy_file(data_path("tiny_spm.gguf"), tok_dir / "tokenizer.gguf");
  auto tok = load_tokenizer(ws.path().string());
  auto ref = load_tokenizer(data_path("tiny_spm.gguf"));
  EXPECT_EQ(tok->encode("workspace tokenizer", true), ref->encode("workspace tokenizer", true));
  EXPECT_EQ(tok->vocab_size(), ref->vocab_size());
}

TEST(TokenizerLoading, WorkspaceWithSentencePieceModel) {
  TempDir ws;
  const fs::path tok_dir = ws.path() / "triton_models" / "tokenizer";
  fs::create_directories(tok_dir);
  fs::copy_file(data_path("tiny_spm.model"), tok_dir / "tokenizer.model");
  std::ofstream(tok_dir / "tokenizer_config.json") << R"({"add_bos_token": false})";
  auto tok = load_tokenizer(ws.path().string());
  EXPECT_FALSE(tok->add_bos_default());
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->decode(tok->encode("Permission is hereby granted", true), true), "Permission is hereby granted");
}

TEST(TokenizerLoading, NonByteLevelTokenizerJsonFallsBackToModel) {
  TempDir dir;
  std::ofstream(dir.path() / "tokenizer.json")
      << R"({"model": {"type": "BPE", "vocab": {}, "merges": []}, "normalizer": {"type": "Sequence"},
            "pre_tokenizer": null, "decoder": null})";
  fs::copy_file(data_path("tiny_spm.model"), dir.path() / "tokenizer.model");
  auto tok = load_tokenizer(dir.path().string());
  EXPECT_NE(tok->kind().find("SentencePiece model"), std::string::npos) << tok->kind();
  // Without tokenizer.model the same file is an error naming it.
  fs::remove(dir.path() / "tokenizer.model");
  const std::string msg = error_of(dir.path().string());
  EXPECT_NE(msg.find("tokenizer.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("normalizer"), std::string::npos) << msg;
}

TEST(TokenizerLoading, OutOfRangeIdsThrowNamingTheId) {
  auto tok = load_tokenizer(data_path("tiny_spm.gguf"));
  try {
    tok->decode({5, tok->vocab_size()});
    FAIL() << "decode accepted an out-of-range id";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(std::to_string(tok->vocab_size())), std::string::npos) << e.what();
  }
}

TEST(TokenizerLoading, SpecialTokensAreParsedOnlyWhenAsked) {
  auto tok = load_tokenizer(data_path("tiny_spm.gguf"));
  const int32_t im_start = tok->token_to_id("<|im_start|>");
  ASSERT_GE(im_start, 0);
  EXPECT_TRUE(tok->is_special(im_start));
  const auto parsed = tok->encode("<|im_start|>", false, true);
  EXPECT_EQ(parsed, std::vector<int32_t>{im_start});
  const auto plain = tok->encode("<|im_start|>", false, false);
  EXPECT_GT(plain.size(), 1u);
  EXPECT_EQ(tok->decode(parsed), "<|im_start|>");
  EXPECT_EQ(tok->decode(parsed, /*skip_special=*/true), "");
  EXPECT_EQ(tok->token_to_id("no such piece"), -1);
}

TEST(TokenizerPieces, RegexSplitterGpt2Whitespace) {
  RegexSplitter s;
  s.add_step(kDigitPattern);
  s.add_step(kGpt2Pattern);
  // \s+(?!\S) leaves the last space to join the next word; digits come one by one.
  EXPECT_EQ(s.split("a   b 123 it's\n\nx"),
            (std::vector<std::string>{"a", "  ", " b", " ", "1", "2", "3", " it", "'s", "\n", "\n", "x"}));
  EXPECT_EQ(s.split("héllo wörld"), (std::vector<std::string>{"héllo", " wörld"}));
}

TEST(TokenizerPieces, RegexSplitterRejectsBadPattern) {
  RegexSplitter s;
  try {
    s.add_step("(unclosed");
    FAIL() << "bad pattern accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("(unclosed"), std::string::npos) << e.what();
  }
}

TEST(TokenizerPieces, SpecialTokensLongestFirst) {
  SpecialTokenMatcher m;
  m.add(1, "<a>", false);
  m.add(2, "<a><b>", false);
  m.add(3, "!", true);
  const auto frags = m.split("x<a><b>y<a>!", true);
  ASSERT_EQ(frags.size(), 5u);
  EXPECT_EQ(frags[0].text, "x");
  EXPECT_EQ(frags[1].token, 2);
  EXPECT_EQ(frags[2].text, "y");
  EXPECT_EQ(frags[3].token, 1);
  EXPECT_EQ(frags[4].token, 3);
  const auto plain = m.split("x<a>!", false);  // only the always-matched "!"
  ASSERT_EQ(plain.size(), 2u);
  EXPECT_EQ(plain[0].text, "x<a>");
  EXPECT_EQ(plain[1].token, 3);
}

TEST(TokenizerPieces, Utf8SanitizeAndByteMap) {
  size_t tail = 0;
  EXPECT_EQ(utf8::sanitize("ab\xE4\xBD", true, &tail), "ab");
  EXPECT_EQ(tail, 2u);
  EXPECT_EQ(utf8::sanitize("ab\xE4\xBD"), "ab\xEF\xBF\xBD");
  EXPECT_EQ(utf8::sanitize("\xC0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong: 2 maximal subparts
  EXPECT_EQ(utf8::sanitize("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_TRUE(utf8::is_valid("日本🎉"));
  EXPECT_FALSE(utf8::is_valid("\xFF"));
  EXPECT_EQ(utf8::byte_to_unicode(' '), "\xC4\xA0");   // Ġ
  EXPECT_EQ(utf8::byte_to_unicode('\n'), "\xC4\x8A");  // Ċ
  EXPECT_EQ(utf8::byte_to_unicode('A'), "A");
  std::string all;
  for (int b = 0; b < 256; ++b) all += utf8::byte_to_unicode(static_cast<uint8_t>(b));
  std::string bytes;
  for (int b = 0; b < 256; ++b) bytes += static_cast<char>(b);
  EXPECT_EQ(utf8::unicode_to_bytes(all), bytes);
}

}  // namespace
}  // namespace lmd
