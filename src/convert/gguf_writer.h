// A minimal GGUF v3 writer for metadata-only files: the workspace's tokenizer.gguf
// (every metadata key of the source GGUF, zero tensors), which
// load_tokenizer() reads like any GGUF.
#pragma once

#include <map>
#include <string>

#include "format/gguf.h"

namespace lmd::convert {

// Writes `kv` (values keep their GGUF types) and no tensors. Errors name the path.
void write_gguf_metadata(const std::string& path, const std::map<std::string, gguf::Value>& kv);

// Every metadata key of `src` (tokenizer.*, general.*, and the architecture's keys, which
// llama.cpp needs to open a vocab_only file) into `dst_path`, without tensors.
void write_vocab_gguf(const gguf::GgufFile& src, const std::string& dst_path);

}  // namespace lmd::convert
