// `lmdeploy convert` through the binary: exit codes and one-line errors.
#include <gtest/gtest.h>

#include "convert_test_util.h"
#include "format/workspace.h"

namespace lmd {
namespace {

using convert_test::TempDir;
using convert_test::TinySpec;
namespace fs = std::filesystem;

// Runs and expects failure with exactly one line of output containing `expect`.
void expect_cli_error(const std::string& args, const std::string& expect) {
  std::string out;
  const int rc = convert_test::run_lmdeploy(args, &out);
  EXPECT_NE(rc, 0) << args << "\n" << out;
  EXPECT_EQ(convert_test::count_lines(out), 1) << args << "\n" << out;
  EXPECT_NE(out.find(expect), std::string::npos) << args << "\n" << out;
}

class CliConvert : public ::testing::Test {
 protected:
  void SetUp() override {
    convert_test::write_hf_dir(convert_test::random_weights(spec_, 21), spec_, src_.path());
  }
  TinySpec spec_;
  TempDir src_, dst_;
};

TEST_F(CliConvert, SucceedsWithBothFlagSpellingsAndPrintsSummary) {
  std::string out;
  ASSERT_EQ(convert_test::run_lmdeploy("convert tiny " + src_.path() + " --dst-path " + dst_ / "a" + " --tp 2", &out), 0)
      << out;
  EXPECT_NE(out.find("tensors"), std::string::npos) << out;
  EXPECT_NE(out.find(dst_ / "a"), std::string::npos) << out;
  ASSERT_EQ(convert_test::run_lmdeploy("convert tiny " + src_.path() + " --dst_path " + dst_ / "b" +
                                           " --model_format hf --tokenizer_path " + src_.path(),
                                       &out),
            0)
      << out;
  EXPECT_TRUE(workspace::is_workspace(dst_ / "a"));
  EXPECT_TRUE(workspace::is_workspace(dst_ / "b"));
  EXPECT_EQ(workspace::read_config_ini(workspace::weights_dir(dst_ / "a") + "/config.ini").model.tensor_para_size, 2);
}

TEST_F(CliConvert, NonEmptyDestinationNeedsForce) {
  std::string out;
  ASSERT_EQ(convert_test::run_lmdeploy("convert tiny " + src_.path() + " --dst-path " + dst_.path(), &out), 0) << out;
  expect_cli_error("convert tiny " + src_.path() + " --dst-path " + dst_.path(),
                   "destination " + dst_.path() + " is not empty (use --force to overwrite it)");
  EXPECT_EQ(convert_test::run_lmdeploy("convert tiny " + src_.path() + " --dst-path " + dst_.path() + " --force", &out),
            0)
      << out;
}

TEST_F(CliConvert, UnwritableDestination) {
  expect_cli_error("convert tiny " + src_.path() + " --dst-path /proc/x", "cannot create destination /proc/x");
}

TEST_F(CliConvert, BadFlagValues) {
  expect_cli_error("convert tiny " + src_.path() + " --dst-path " + dst_ / "w" + " --tp 0", "--tp 0: must be at least 1");
  expect_cli_error("convert tiny " + src_.path() + " --dst-path " + dst_ / "w" + " --model-format foo",
                   "--model-format 'foo': expected hf, awq or gguf");
  expect_cli_error("convert '' " + src_.path() + " --dst-path " + dst_ / "w", "MODEL_NAME must not be empty");
  expect_cli_error("convert tiny " + src_.path() + " --dst-path " + dst_ / "w" + " --tp 3",
                   "--tp 3: head_num 4 and kv_head_num 2");
  EXPECT_FALSE(fs::exists(dst_ / "w"));
}

TEST_F(CliConvert, AwqGroupSizeMismatch) {
  nlohmann::json cfg = convert_test::hf_config_json(spec_);
  cfg["quantization_config"] = {{"quant_method", "awq"}, {"bits", 4}, {"group_size", 32}, {"version", "gemm"}};
  convert_test::write_json(src_ / "config.json", cfg);
  expect_cli_error("convert tiny " + src_.path() + " --dst-path " + dst_ / "w" + " --model-format awq --group-size 7",
                   "--group-size 7 does not match quantization_config.group_size 32");
}

TEST_F(CliConvert, MissingConfigField) {
  nlohmann::json cfg = convert_test::hf_config_json(spec_);
  cfg.erase("num_attention_heads");
  convert_test::write_json(src_ / "config.json", cfg);
  expect_cli_error("convert tiny " + src_.path() + " --dst-path " + dst_ / "w",
                   src_ / "config.json" + ": missing field 'num_attention_heads'");
}

TEST_F(CliConvert, UnknownArchitecture) {
  nlohmann::json cfg = convert_test::hf_config_json(spec_);
  cfg["architectures"] = {"FalconForCausalLM"};
  convert_test::write_json(src_ / "config.json", cfg);
  expect_cli_error("convert tiny " + src_.path() + " --dst-path " + dst_ / "w",
                   "unsupported architecture FalconForCausalLM (supported: ");
}

TEST_F(CliConvert, MissingModelPath) {
  expect_cli_error("convert tiny " + src_ / "nope" + " --dst-path " + dst_ / "w",
                   "model path does not exist: " + src_ / "nope");
}

TEST_F(CliConvert, WorkspaceAsSourceIsRejected) {
  std::string out;
  ASSERT_EQ(convert_test::run_lmdeploy("convert tiny " + src_.path() + " --dst-path " + dst_ / "a", &out), 0) << out;
  expect_cli_error("convert tiny " + dst_ / "a" + " --dst-path " + dst_ / "b", "is already a workspace");
}

}  // namespace
}  // namespace lmd
