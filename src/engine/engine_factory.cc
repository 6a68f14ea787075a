// Engine::create(path): weights + tokenizer + KV pool size + chat template name.
#include <fstream>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/logging.h"
#include "common/system_info.h"
#include "convert/load_model.h"
#include "engine/kv_pool_size.h"
#include "engine/text_codec.h"
#include "format/gguf.h"
#include "lmdeploy/engine.h"
#include "model/llama.h"
#include "template/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace lmd {

namespace {

class TokenizerCodec : public TextCodec {
 public:
  explicit TokenizerCodec(std::unique_ptr<Tokenizer> t) : tok_(std::move(t)) {}
  std::vector<int32_t> encode(const std::string& text, bool add_bos) const override {
    return tok_->encode(text, add_bos && tok_->add_bos_default(), /*parse_special=*/true);
  }
  std::string decode(const std::vector<int32_t>& ids) const override {
    return tok_->decode(ids, /*skip_special=*/true);
  }
  int32_t eos_id() const override { return tok_->eos_id(); }
  int32_t token_id(const std::string& piece) const override { return tok_->token_to_id(piece); }

 private:
  std::unique_ptr<Tokenizer> tok_;
};

// Quant policy -> KV element kind: 0 fp16; 4 int8 (the seed's numbering, see
// model_config.h) and 8 int8 (newer lmdeploy's); newer lmdeploy's int4 is not offered
// under 4 because the seed's 4 means int8.
KvKind kv_kind_for(int quant_policy) {
  switch (quant_policy) {
    case 0: return KvKind::kF16;
    case 4:
    case 8: return KvKind::kInt8;
    default:
      throw Error("quant_policy must be 0 (fp16 KV) or 4 / 8 (int8 KV), got " + std::to_string(quant_policy));
  }
}

// The Jinja chat template shipped with the model (GGUF metadata or tokenizer_config.json),
// "" when there is none.
std::string jinja_chat_template(const std::string& path) {
  try {
    if (detect_model_format(path) == "gguf") {
      auto f = gguf::GgufFile::open(path);
      return f->get_string_or("tokenizer.chat_template", "");
    }
    std::ifstream in(path + "/tokenizer_config.json");
    if (!in) return "";
    nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("chat_template") && j["chat_template"].is_string())
      return j["chat_template"].get<std::string>();
  } catch (const std::exception& e) {
    LMD_LOG_DEBUG("no chat template read from {}: {}", path, e.what());
  }
  return "";
}

uint64_t weight_bytes(const ModelWeights& w) {
  auto t = [](const WeightTensor& x) { return static_cast<uint64_t>(x.data.size() + x.aux.size()); };
  uint64_t n = t(w.tok_embeddings) + t(w.norm) + t(w.output);
  for (const auto& l : w.layers) {
    for (const WeightTensor* x : {&l.attention_norm, &l.wq, &l.wk, &l.wv, &l.bq, &l.bk, &l.bv, &l.wo, &l.ffn_norm,
                                  &l.w1, &l.w3, &l.w2})
      n += t(*x);
  }
  return n;
}

}  // namespace

std::unique_ptr<Engine> Engine::create(const std::string& model_path, const EngineConfig& cfg) {
  LMD_CHECK(cfg.tp == 1) << "--tp " << cfg.tp << ": only tensor parallelism 1 is supported on this build";
  if (cfg.device == "cuda") {
    throw Error("--device cuda: no CUDA device (this build runs on the CPU; use --device cpu)",
                Error::Kind::kUnsupported);
  }
  LMD_CHECK(cfg.device == "cpu" || cfg.device == "auto") << "--device must be cpu, cuda or auto, got '"
                                                         << cfg.device << "'";
  LMD_CHECK(cfg.cache_block_seq_len > 0) << "cache_block_seq_len must be > 0, got " << cfg.cache_block_seq_len;
  LMD_CHECK(cfg.numerics == "fast" || cfg.numerics == "exact" || cfg.numerics == "llama.cpp")
      << "--numerics must be fast, exact or llama.cpp, got '" << cfg.numerics << "'";
  const KvKind kind = kv_kind_for(cfg.quant_policy);

  LoadOptions lo;
  ModelWeights w = load_model_weights(model_path, lo);
  auto tokenizer = load_tokenizer(model_path);
  ModelConfig& mc = w.config;
  if (cfg.session_len > 0) mc.session_len = cfg.session_len;
  if (cfg.max_batch_size > 0) mc.max_batch_size = cfg.max_batch_size;
  if (cfg.max_prefill_token_num > 0) mc.max_prefill_token_num = cfg.max_prefill_token_num;
  mc.cache_block_seq_len = cfg.cache_block_seq_len;
  mc.quant_policy = cfg.quant_policy;

  // The chat template's name: --model-name, else the model's name when it is a template,
  // else what the model's Jinja template looks like.
  std::string name = cfg.model_name.empty() ? mc.model_name : cfg.model_name;
  if (!has_template(name)) name = resolve_template_name(name, jinja_chat_template(model_path));
  mc.model_name = name;
  LMD_LOG_INFO("model {}: {} layers, vocab {}, chat template '{}'", model_path, mc.num_layer, mc.vocab_size, name);

  KvLayout layout;
  layout.num_layer = mc.num_layer;
  layout.kv_head_num = mc.kv_head_num / std::max(1, mc.tensor_para_size);
  layout.head_dim = mc.size_per_head;
  layout.block_len = cfg.cache_block_seq_len;
  layout.kind = kind;
  KvPoolRequest pr;
  pr.cache_max_entry_count = cfg.cache_max_entry_count;
  pr.block_bytes = layout.block_bytes();
  pr.available_bytes = available_memory_bytes();
  pr.weight_bytes = weight_bytes(w);
  pr.max_batch_size = mc.max_batch_size;
  pr.session_len = mc.session_len;
  pr.block_len = layout.block_len;
  ModelRuntimeOptions opt;
  opt.threads = cfg.threads;
  opt.kv_kind = kind;
  opt.kv_num_blocks = kv_pool_blocks(pr);
  opt.block_len = layout.block_len;
  opt.exact = cfg.numerics == "exact";
  opt.llamacpp_numerics = cfg.numerics == "llama.cpp";
  std::unique_ptr<Model> model = create_llama_model(w, opt);
  w = ModelWeights{};  // the model holds its own (repacked) copy

  EngineConfig ec = cfg;
  ec.model_name = name;
  return create(std::move(model), std::make_unique<TokenizerCodec>(std::move(tokenizer)), ec);
}

}  // namespace lmd
