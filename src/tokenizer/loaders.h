// Builders behind load_tokenizer(): one per source format.
#pragma once

#include <memory>
#include <string>

#include "tokenizer/tokenizer.h"

namespace lmd {
namespace gguf {
class GgufFile;
}

// tokenizer.ggml.* metadata of a GGUF file (full model or vocab-only).
std::unique_ptr<Tokenizer> load_gguf_tokenizer(const gguf::GgufFile& file);
// A Hugging Face tokenizer.json holding a byte-level BPE model. `config_path` (may be
// empty or absent) is the tokenizer_config.json next to it, read for bos/eos/add_bos.
// Throws lmd::Error of kind kUnsupported for other models / normalizers.
std::unique_ptr<Tokenizer> load_hf_tokenizer_json(const std::string& path, const std::string& config_path);

}  // namespace lmd
