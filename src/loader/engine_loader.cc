#include "loader/engine_loader.h"

#include <fstream>

#include <nlohmann/json.hpp>

#include "common/logging.h"
#include "common/system_info.h"
#include "convert/load_model.h"
#include "core/error.h"
#include "core/quant_policy.h"
#include "engine/text_codec.h"
#include "format/gguf.h"
#include "loader/chat_template_resolver.h"
#include "loader/kv_pool_size.h"
#include "model/tp_model.h"
#include "template/chat_template.h"

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

void check_flags(const EngineConfig& cfg) {
  LMD_CHECK(cfg.tp >= 1) << "--tp " << cfg.tp << ": must be at least 1";
  LMD_CHECK(cfg.cache_block_seq_len > 0) << "cache_block_seq_len must be > 0, got " << cfg.cache_block_seq_len;
  LMD_CHECK(cfg.numerics == "fast" || cfg.numerics == "exact" || cfg.numerics == "llama.cpp")
      << "--numerics must be fast, exact or llama.cpp, got '" << cfg.numerics << "'";
  // quant_policy: the flag when given, else the model's (a workspace's config.ini).
  if (cfg.quant_policy != kQuantPolicyUnset) kv_kind_for_quant_policy(cfg.quant_policy);  // fails before loading
}

}  // namespace

const DeviceKind& resolve_device(const EngineConfig& cfg) {
  LMD_CHECK(cfg.device == "cpu" || cfg.device == "cuda" || cfg.device == "auto")
      << "--device must be cpu, cuda or auto, got '" << cfg.device << "'";
  LMD_CHECK(cfg.tp >= 1) << "--tp " << cfg.tp << ": must be at least 1";
  const std::string name = cfg.device == "auto" ? resolve_auto_device() : cfg.device;
  const DeviceKind& kind = device_kind(name);  // "cuda" in a build without it: names what exists
  if (kind.host_memory) return kind;
  std::string why;
  const size_t have = kind.devices(&why).size();
  const std::string label = name == "cuda" ? "CUDA" : name;
  LMD_CHECK_KIND(have > 0, kUnsupported) << "--device " << cfg.device << ": no " << label << " device (" << why
                                         << "); use --device cpu or --device auto";
  // One rank per device (rank r on device r), checked before loading anything.
  LMD_CHECK_KIND(have >= static_cast<size_t>(cfg.tp), kUnsupported)
      << "--device " << cfg.device << " --tp " << cfg.tp << ": needs " << cfg.tp << " " << label
      << " devices (one rank per device), but " << have << " exist";
  LMD_LOG_INFO("device: {} (--device {})", name, cfg.device);
  return kind;
}

LoadedModel load_model(const std::string& model_path, const EngineConfig& cfg) {
  check_flags(cfg);
  LoadedModel m;
  // Tensor parallelism: one ModelWeights per rank (a workspace converted for another tp is
  // re-sharded, any other model split at load; see convert/load_model.h).
  LoadOptions lo;
  lo.tp = cfg.tp;
  m.ranks = load_model_shards(model_path, lo);
  m.tokenizer = load_tokenizer(model_path);
  ModelConfig mc = m.ranks[0].config;
  if (cfg.session_len > 0) mc.session_len = cfg.session_len;
  if (cfg.max_batch_size > 0) mc.max_batch_size = cfg.max_batch_size;
  if (cfg.max_prefill_token_num > 0) mc.max_prefill_token_num = cfg.max_prefill_token_num;
  mc.cache_block_seq_len = cfg.cache_block_seq_len;
  if (cfg.quant_policy != kQuantPolicyUnset) mc.quant_policy = cfg.quant_policy;
  const KvKind kind = kv_kind_for_quant_policy(mc.quant_policy);
  if (kind != KvKind::kF16)
    LMD_LOG_INFO("KV cache: quant_policy {} ({})", mc.quant_policy, kind == KvKind::kInt8 ? "int8" : "int4");

  // The model's name: --model-name, else the model's name when it is a registry template,
  // else what the model's Jinja template looks like (the served name; the prompt itself is
  // the chat formatter's).
  std::string name = cfg.model_name.empty() ? mc.model_name : cfg.model_name;
  if (!has_template(name)) name = resolve_template_name(name, model_chat_template(model_path));
  mc.model_name = name;
  m.template_name = name;
  m.chat_formatter = resolve_chat_formatter(model_path, cfg.chat_template, name, *m.tokenizer);
  for (ModelWeights& rw : m.ranks) rw.config = mc;
  LMD_LOG_INFO("model {}: {} layers, vocab {}, chat template '{}'", model_path, mc.num_layer, mc.vocab_size, name);
  return m;
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

KvPoolPlan size_kv_pool(const LoadedModel& model, const DeviceKind& device, const EngineConfig& cfg) {
  const ModelConfig& mc = model.ranks.at(0).config;
  KvPoolPlan plan;
  plan.layout.num_layer = mc.num_layer;
  plan.layout.kv_head_num = mc.kv_head_num;  // a block's bytes over all ranks: one pool budget
  plan.layout.head_dim = mc.size_per_head;
  plan.layout.block_len = mc.cache_block_seq_len;
  plan.layout.kind = kv_kind_for_quant_policy(mc.quant_policy);
  for (const ModelWeights& rw : model.ranks) plan.weight_bytes += weight_bytes(rw);
  if (device.host_memory) {
    plan.available_bytes = available_memory_bytes();
  } else {
    // As lmdeploy: a fraction < 1 is of the devices' free memory once the weights are on them
    // (they are not yet: free now minus their bytes, which kv_pool_blocks subtracts). With tp,
    // rank r holds 1/tp of the weights and of every block on device r: sum devices 0..tp-1.
    LMD_CHECK_KIND(device.memory, kUnsupported) << "device kind " << device.name << " reports no memory";
    for (int d = 0; d < cfg.tp; ++d) {
      DeviceMemory mem;
      std::string why;
      LMD_CHECK_KIND(device.memory(d, &mem, &why), kUnsupported) << "--device " << device.name << ": " << why;
      plan.available_bytes += mem.free_bytes;
      LMD_LOG_INFO("{} device {}: {} of {} MiB free", device.name, d, mem.free_bytes >> 20, mem.total_bytes >> 20);
    }
  }
  KvPoolRequest pr;
  pr.cache_max_entry_count = cfg.cache_max_entry_count;
  pr.block_bytes = plan.layout.block_bytes();
  pr.available_bytes = plan.available_bytes;
  pr.weight_bytes = plan.weight_bytes;
  pr.max_batch_size = mc.max_batch_size;
  pr.session_len = mc.session_len;
  pr.block_len = plan.layout.block_len;
  plan.num_blocks = kv_pool_blocks(pr);
  LMD_LOG_INFO("KV pool: {} blocks x {} bytes = {} bytes of {} memory (cache_max_entry_count {}, {} bytes available, "
               "weights {} bytes)",
               plan.num_blocks, pr.block_bytes, static_cast<uint64_t>(plan.num_blocks) * pr.block_bytes,
               device.host_memory ? "host" : "device", cfg.cache_max_entry_count, plan.available_bytes,
               plan.weight_bytes);
  return plan;
}

std::unique_ptr<Engine> build_runtime(LoadedModel model, const DeviceKind& device, const KvPoolPlan& pool,
                                      const EngineConfig& cfg) {
  ModelRuntimeOptions opt;
  opt.device = device.name;
  opt.threads = cfg.threads;
  opt.kv_kind = pool.layout.kind;
  opt.kv_num_blocks = pool.num_blocks;
  opt.block_len = pool.layout.block_len;
  opt.exact = cfg.numerics == "exact";
  opt.llamacpp_numerics = cfg.numerics == "llama.cpp";
  std::unique_ptr<Model> m = create_model_for_ranks(std::move(model.ranks), opt);  // frees each host tensor once uploaded
  model.ranks.clear();
  EngineConfig ec = cfg;
  ec.model_name = model.template_name;
  return Engine::create(std::move(m), std::make_unique<TokenizerCodec>(std::move(model.tokenizer)), ec,
                        std::move(model.chat_formatter));
}

std::unique_ptr<Engine> Engine::create(const std::string& model_path, const EngineConfig& cfg) {
  check_flags(cfg);
  const DeviceKind& device = resolve_device(cfg);
  LoadedModel model = load_model(model_path, cfg);
  const KvPoolPlan pool = size_kv_pool(model, device, cfg);
  return build_runtime(std::move(model), device, pool, cfg);
}

}  // namespace lmd
