// load_tokenizer(): finds the tokenizer files of a model path and picks the builder.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "common/logging.h"
#include "format/gguf.h"
#include "tokenizer/loaders.h"
#include "tokenizer/sentencepiece_tokenizer.h"

namespace lmd {
namespace {

namespace fs = std::filesystem;

bool has_gguf_magic(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::string(magic, 4) == "GGUF";
}

// add_bos_token from tokenizer_config.json next to a tokenizer.model (Llama default: true).
bool spm_add_bos(const fs::path& dir) {
  const fs::path cfg = dir / "tokenizer_config.json";
  std::ifstream in(cfg);
  if (!in.good()) return true;
  try {
    const auto j = nlohmann::json::parse(in);
    if (j.contains("add_bos_token") && j.at("add_bos_token").is_boolean()) return j.at("add_bos_token").get<bool>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(cfg.string() + ": not valid JSON: " + e.what());
  }
  return true;
}

std::unique_ptr<Tokenizer> load_file(const fs::path& p) {
  const std::string name = p.filename().string();
  if (p.extension() == ".gguf" || has_gguf_magic(p)) {
    auto f = gguf::GgufFile::open(p.string());
    return load_gguf_tokenizer(*f);
  }
  const fs::path dir = p.parent_path();
  if (p.extension() == ".json") return load_hf_tokenizer_json(p.string(), (dir / "tokenizer_config.json").string());
  if (p.extension() == ".model") return std::make_unique<SentencePieceTokenizer>(p.string(), spm_add_bos(dir));
  LMD_FAIL_KIND(kUnsupported) << p.string()
                              << ": not a tokenizer file (expected a .gguf, tokenizer.json or tokenizer.model)";
  return nullptr;
}

std::unique_ptr<Tokenizer> load_dir(const fs::path& dir) {
  const fs::path workspace_tok = dir / "triton_models" / "tokenizer";
  if (fs::is_directory(workspace_tok)) return load_dir(workspace_tok);
  const fs::path json_path = dir / "tokenizer.json", spm_path = dir / "tokenizer.model";
  const fs::path gguf_path = dir / "tokenizer.gguf";
  if (fs::is_regular_file(json_path)) {
    try {
      return load_hf_tokenizer_json(json_path.string(), (dir / "tokenizer_config.json").string());
    } catch (const Error& e) {
      // Llama-2-style tokenizer.json files describe a SentencePiece BPE we load from
      // tokenizer.model instead.
      if (e.kind() != Error::Kind::kUnsupported || !fs::is_regular_file(spm_path)) throw;
      LMD_LOG_INFO("{}; using {}", e.what(), spm_path.string());
    }
  }
  if (fs::is_regular_file(spm_path)) {
    return std::make_unique<SentencePieceTokenizer>(spm_path.string(), spm_add_bos(dir));
  }
  if (fs::is_regular_file(gguf_path)) return load_file(gguf_path);
  LMD_FAIL_KIND(kNotFound) << dir.string()
                           << ": no tokenizer found (expected tokenizer.json, tokenizer.model, tokenizer.gguf "
                              "or a workspace's triton_models/tokenizer/)";
  return nullptr;
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
  const fs::path p(path);
  std::error_code ec;
  LMD_CHECK_KIND(fs::exists(p, ec), kNotFound) << "tokenizer path " << path << " does not exist";
  if (fs::is_directory(p)) return load_dir(p);
  return load_file(p);
}

}  // namespace lmd
