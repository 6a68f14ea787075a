#include "convert/convert.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>

#include "core/error.h"
#include "common/logging.h"
#include "common/progress.h"
#include "convert/gguf_writer.h"
#include "convert/load_model.h"
#include "convert/tp_split.h"
#include "format/gguf.h"

namespace lmd::convert {
namespace fs = std::filesystem;
namespace {

// HF tokenizer files copied into DST/triton_models/tokenizer when present.
// tokenizer.gguf: the vocabulary-only GGUF that `lite auto_awq` writes for a GGUF source.
constexpr const char* kTokenizerFiles[] = {"tokenizer.json", "tokenizer.model", "tokenizer.gguf", "tokenizer_config.json",
                                           "special_tokens_map.json", "generation_config.json"};

// q, k, v share one fused file, so they need one storage type: when a GGUF mixes them,
// all three become fp32.
void unify_qkv(LayerWeights& l) {
  if (l.wq.dtype == l.wk.dtype && l.wq.dtype == l.wv.dtype && l.wq.group_size == l.wk.group_size &&
      l.wq.group_size == l.wv.group_size)
    return;
  for (WeightTensor* t : {&l.wq, &l.wk, &l.wv}) {
    if (t->dtype == DType::kF32) continue;
    const std::vector<float> v = t->to_f32();
    *t = make_dense(DType::kF32, t->shape, v.data());
  }
}

// config.ini's types: weight_type = the most common layer-matrix type, the rest listed in
// [tensor_types]; every int4 (int8) tensor must share one group size.
workspace::WorkspaceConfig make_workspace_config(const ModelWeights& w, int tp) {
  workspace::WorkspaceConfig cfg;
  cfg.model = w.config;
  cfg.model.tensor_para_size = tp;
  cfg.model.rope_pairing = RopePairing::kHalfSplit;
  int int4_group = 0, int8_group = 0;
  auto note_group = [&](const WeightTensor& t, const std::string& name) {
    int* g = t.dtype == DType::kInt4 ? &int4_group : t.dtype == DType::kI8 ? &int8_group : nullptr;
    if (!g) return;
    LMD_CHECK_KIND(*g == 0 || *g == t.group_size, kUnsupported)
        << "tensor " << name << " uses " << dtype_name(t.dtype) << " group size " << t.group_size << ", others use "
        << *g << " (a workspace holds one group size per type)";
    *g = t.group_size;
  };
  note_group(w.tok_embeddings, "tok_embeddings");
  cfg.embedding_type = w.tok_embeddings.dtype;
  cfg.output_type = w.output.empty() ? w.tok_embeddings.dtype : w.output.dtype;
  if (!w.output.empty()) note_group(w.output, "output");

  std::map<std::string, DType> types;
  std::map<DType, int> counts;
  for (size_t i = 0; i < w.layers.size(); ++i) {
    const LayerWeights& l = w.layers[i];
    const std::string p = "layers." + std::to_string(i) + ".";
    const std::pair<std::string, const WeightTensor*> mats[] = {
        {p + "attention.w_qkv", &l.wq}, {p + "attention.wo", &l.wo},   {p + "feed_forward.w1", &l.w1},
        {p + "feed_forward.w3", &l.w3}, {p + "feed_forward.w2", &l.w2}};
    for (const auto& [name, t] : mats) {
      note_group(*t, name);
      types[name] = t->dtype;
      counts[t->dtype] += 1;
    }
  }
  DType dominant = w.tok_embeddings.dtype;
  int best = -1;
  for (const auto& [t, n] : counts) {
    if (n > best) dominant = t, best = n;
  }
  cfg.model.weight_type = dominant;
  for (const auto& [name, t] : types) {
    if (t != dominant) cfg.tensor_types[name] = t;
  }
  cfg.model.group_size = int4_group;
  cfg.int8_group_size = int8_group;
  return cfg;
}

bool dir_non_empty(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec) && fs::directory_iterator(p, ec) != fs::directory_iterator();
}

void make_dirs(const fs::path& p) {
  std::error_code ec;
  fs::create_directories(p, ec);
  LMD_CHECK(!ec && fs::is_directory(p)) << "cannot create destination " << p.string() << ": "
                                        << (ec ? ec.message() : "not a directory");
}

void copy_hf_tokenizer(const std::string& src, const std::string& dst_dir) {
  std::error_code ec;
  if (fs::is_regular_file(src, ec)) {  // --tokenizer_path pointing at one file
    fs::copy_file(src, fs::path(dst_dir) / fs::path(src).filename(), fs::copy_options::overwrite_existing, ec);
    LMD_CHECK(!ec) << "cannot copy tokenizer " << src << " to " << dst_dir << ": " << ec.message();
    return;
  }
  int copied = 0;
  bool has_vocab = false;
  for (const char* name : kTokenizerFiles) {
    const fs::path from = fs::path(src) / name;
    if (!fs::is_regular_file(from, ec)) continue;
    fs::copy_file(from, fs::path(dst_dir) / name, fs::copy_options::overwrite_existing, ec);
    LMD_CHECK(!ec) << "cannot copy " << from.string() << " to " << dst_dir << ": " << ec.message();
    ++copied;
    has_vocab |= std::strcmp(name, "tokenizer.json") == 0 || std::strcmp(name, "tokenizer.model") == 0 ||
                 std::strcmp(name, "tokenizer.gguf") == 0;
  }
  LMD_CHECK_KIND(has_vocab, kNotFound) << "no tokenizer in " << src
                                       << " (expected tokenizer.json, tokenizer.model or tokenizer.gguf); pass --tokenizer_path";
}

}  // namespace

ConvertSummary write_workspace_weights(const ModelWeights& w_in, const std::string& dst, int tp, bool progress) {
  check_tp(w_in, tp);
  ModelWeights w = w_in;  // q/k/v may be unified below
  for (LayerWeights& l : w.layers) unify_qkv(l);
  LMD_CHECK(w.config.rope_pairing == RopePairing::kHalfSplit)
      << "workspace weights must be in half-split RoPE order (load GGUF without keep_gguf_rope_layout)";
  const workspace::WorkspaceConfig cfg = make_workspace_config(w, tp);
  const std::string dir = workspace::weights_dir(dst);
  make_dirs(dir);
  workspace::write_config_ini(dir + "/config.ini", cfg);

  ConvertSummary s;
  s.dst_path = dst;
  s.tp = tp;
  ProgressBar bar("writing " + dir, static_cast<int64_t>(w.layers.size()) + 1);
  workspace::write_tensor(dir, "tok_embeddings", w.tok_embeddings, &s.written);
  workspace::write_tensor(dir, "norm", w.norm, &s.written);
  s.tensors += 2;
  if (!w.config.tie_word_embeddings) {
    LMD_CHECK(!w.output.empty()) << "output weight missing and tie_word_embeddings is false";
    workspace::write_tensor(dir, "output", w.output, &s.written);
    s.tensors += 1;
  }
  if (progress) bar.advance();
  for (size_t i = 0; i < w.layers.size(); ++i) {
    const std::string p = "layers." + std::to_string(i) + ".";
    workspace::write_tensor(dir, p + "attention_norm", w.layers[i].attention_norm, &s.written);
    workspace::write_tensor(dir, p + "ffn_norm", w.layers[i].ffn_norm, &s.written);
    s.tensors += 2;
    if (!w.layers[i].bo.empty()) {  // unsplit: rank 0 adds it once
      workspace::write_bias(dir, p + "attention.wo", w.layers[i].bo, &s.written);
      s.tensors += 1;
    }
    for (int r = 0; r < tp; ++r) {
      const LayerWeights l = split_layer(w.layers[i], w.config, tp, r);
      const std::string rs = "." + std::to_string(r);
      workspace::write_tensor(dir, p + "attention.w_qkv" + rs, concat_rows({&l.wq, &l.wk, &l.wv}), &s.written);
      if (!l.bq.empty()) {
        workspace::write_bias(dir, p + "attention.w_qkv" + rs, concat_rows({&l.bq, &l.bk, &l.bv}), &s.written);
        s.tensors += 1;
      }
      workspace::write_tensor(dir, p + "attention.wo" + rs, l.wo, &s.written);
      workspace::write_tensor(dir, p + "feed_forward.w1" + rs, l.w1, &s.written);
      workspace::write_tensor(dir, p + "feed_forward.w3" + rs, l.w3, &s.written);
      workspace::write_tensor(dir, p + "feed_forward.w2" + rs, l.w2, &s.written);
      s.tensors += 5;
    }
    if (progress) bar.advance();
  }
  if (progress) bar.finish();
  return s;
}

// Loads the model and writes weights + tokenizer into prepared directories.
static ConvertSummary convert_into(const ConvertOptions& o, const std::string& fmt);

ConvertSummary convert_model(const ConvertOptions& o) {
  LMD_CHECK(!o.model_name.empty()) << "MODEL_NAME must not be empty";
  LMD_CHECK(o.tp >= 1) << "--tp " << o.tp << ": must be at least 1";
  LMD_CHECK(o.group_size >= 0) << "--group-size " << o.group_size << ": must be >= 0";
  LMD_CHECK(o.model_format.empty() || o.model_format == "hf" || o.model_format == "awq" || o.model_format == "gguf")
      << "--model-format '" << o.model_format << "': expected hf, awq or gguf";
  LMD_CHECK(!o.dst_path.empty()) << "--dst-path must not be empty";
  const std::string fmt = o.model_format.empty() ? detect_model_format(o.model_path) : o.model_format;
  LMD_CHECK(fmt != "workspace") << o.model_path << " is already a workspace; nothing to convert";
  if (fmt != "awq" && o.group_size > 0) {
    LMD_LOG_WARN("--group-size {} is ignored for {} models", o.group_size, fmt);
  }

  // The destination, checked before the (slow) load.
  const fs::path dst(o.dst_path);
  std::error_code ec;
  if (fs::exists(dst, ec) && !fs::is_directory(dst, ec)) {
    throw Error("destination " + o.dst_path + " exists and is not a directory");
  }
  if (dir_non_empty(dst)) {
    LMD_CHECK(o.force) << "destination " << o.dst_path << " is not empty (use --force to overwrite it)";
    fs::remove_all(dst / "triton_models", ec);
    LMD_CHECK(!ec) << "cannot remove " << (dst / "triton_models").string() << ": " << ec.message();
  }
  const bool dst_existed = fs::exists(dst, ec);
  make_dirs(workspace::tokenizer_dir(o.dst_path));
  // A failed conversion leaves nothing behind: no half-written workspace to load later.
  try {
    return convert_into(o, fmt);
  } catch (...) {
    fs::remove_all(dst_existed ? dst / "triton_models" : dst, ec);
    throw;
  }
}

static ConvertSummary convert_into(const ConvertOptions& o, const std::string& fmt) {
  std::error_code ec;
  LoadOptions lo;
  lo.model_format = fmt;
  lo.group_size = o.group_size;
  lo.model_name = o.model_name;
  const ModelWeights w = load_model_weights(o.model_path, lo);

  ConvertSummary s = write_workspace_weights(w, o.dst_path, o.tp, o.progress);
  s.model_format = fmt;

  const std::string tok_dir = workspace::tokenizer_dir(o.dst_path);
  const std::string tok_src = o.tokenizer_path.empty() ? o.model_path : o.tokenizer_path;
  const bool tok_is_gguf = fs::is_regular_file(tok_src, ec) && fs::path(tok_src).extension() == ".gguf";
  if (tok_is_gguf || (fmt == "gguf" && o.tokenizer_path.empty())) {
    auto g = gguf::GgufFile::open(tok_src);
    write_vocab_gguf(*g, tok_dir + "/tokenizer.gguf");
  } else {
    copy_hf_tokenizer(tok_src, tok_dir);
  }
  return s;
}

}  // namespace lmd::convert
