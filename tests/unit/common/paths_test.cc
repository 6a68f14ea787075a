// The cache dir rule and the one download of the default model (common/paths.h): the
// script is found in this source tree, and a model already cached is returned as is.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "common/paths.h"

namespace lmd {
namespace {

namespace fs = std::filesystem;

// Sets an environment variable for one scope and restores it after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    had_ = std::getenv(name) != nullptr;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (had_) {
      ::setenv(name_, old_.c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

TEST(Paths, CacheDirRule) {
  ScopedEnv xdg("XDG_CACHE_HOME", "/tmp/xdg-test");
  {
    ScopedEnv lmd("LMDEPLOY_CACHE_DIR", "/tmp/lmd-cache-test");
    EXPECT_EQ(cache_dir(), "/tmp/lmd-cache-test");
    EXPECT_EQ(default_model_path(), "/tmp/lmd-cache-test/SmolLM2-135M-Instruct.Q4_1.gguf");
  }
  ScopedEnv empty("LMDEPLOY_CACHE_DIR", "");
  EXPECT_EQ(cache_dir(), "/tmp/xdg-test/lmdeploy");
}

TEST(Paths, FetchScriptIsTheSourceTreesOne) {
  const std::string script = fetch_model_script();
  ASSERT_FALSE(script.empty());
  EXPECT_TRUE(fs::equivalent(script, fs::path(LMDEPLOY_SOURCE_DIR) / "tools" / "fetch_model.sh")) << script;
}

TEST(Paths, CachedModelIsReturnedWithoutDownloading) {
  const fs::path dir = fs::temp_directory_path() / ("lmd_paths_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  ScopedEnv lmd("LMDEPLOY_CACHE_DIR", dir.string());
  const fs::path model = dir / "SmolLM2-135M-Instruct.Q4_1.gguf";
  std::FILE* f = std::fopen(model.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  // PATH emptied: a download attempt (bash, python3) could not even start.
  ScopedEnv path("PATH", "");
  EXPECT_EQ(ensure_default_model(), model.string());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace lmd
