// Engine::create(path): weights + tokenizer + KV pool size + chat template name.
#include <fstream>

#include <nlohmann/json.hpp>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/device_pool.h"
#include "comm/nccl_communicator.h"
#include "common/error.h"
#include "common/logging.h"
#include "common/system_info.h"
#include "convert/load_model.h"
#include "engine/kv_pool_size.h"
#include "engine/text_codec.h"
#include "format/gguf.h"
#include "kv/quant_policy.h"
#include "lmdeploy/engine.h"
#include "model/llama.h"
#include "model/tp_model.h"
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

// Quant policy -> KV element kind (kv/quant_policy.h: 0 fp16, 4 / 8 int8, 16 int4).
KvKind kv_kind_for(int quant_policy) { return kv_kind_for_quant_policy(quant_policy); }

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
  LMD_CHECK(cfg.tp >= 1) << "--tp " << cfg.tp << ": must be at least 1";
  LMD_CHECK(cfg.device == "cpu" || cfg.device == "cuda" || cfg.device == "auto")
      << "--device must be cpu, cuda or auto, got '" << cfg.device << "'";
  // --device cuda needs a CUDA build and a device; auto takes CUDA when there is one.
  bool use_cuda = false;
  if (cfg.device != "cpu") {
    std::string why;
    use_cuda = !cuda_devices(&why).empty();
    if (cfg.device == "cuda" && !use_cuda)
      throw Error("--device cuda: no CUDA device (" + why + "); use --device cpu or --device auto",
                  Error::Kind::kUnsupported);
    if (use_cuda && cfg.tp > 1) {
      // One rank per device (rank r on device r), checked before loading anything.
      const size_t have = cuda_devices().size();
      LMD_CHECK_KIND(have >= static_cast<size_t>(cfg.tp), kUnsupported)
          << "--device " << cfg.device << " --tp " << cfg.tp << ": needs " << cfg.tp
          << " CUDA devices (one rank per device), but " << have << " exist";
    }
    if (use_cuda) LMD_LOG_INFO("device: CUDA (--device {})", cfg.device);
  }
  LMD_CHECK(cfg.cache_block_seq_len > 0) << "cache_block_seq_len must be > 0, got " << cfg.cache_block_seq_len;
  LMD_CHECK(cfg.numerics == "fast" || cfg.numerics == "exact" || cfg.numerics == "llama.cpp")
      << "--numerics must be fast, exact or llama.cpp, got '" << cfg.numerics << "'";
  // quant_policy: the flag when given, else the model's (a workspace's config.ini).
  if (cfg.quant_policy != kQuantPolicyUnset) kv_kind_for(cfg.quant_policy);  // bad values fail before loading

  // Tensor parallelism: one ModelWeights per rank (a workspace converted for another tp is
  // re-sharded, any other model split at load; see load_model.h). ranks[0].config is the
  // model's config; the other ranks get a copy of it before the model is built.
  LoadOptions lo;
  lo.tp = cfg.tp;
  std::vector<ModelWeights> ranks = load_model_shards(model_path, lo);
  auto tokenizer = load_tokenizer(model_path);
  ModelConfig& mc = ranks[0].config;
  if (cfg.session_len > 0) mc.session_len = cfg.session_len;
  if (cfg.max_batch_size > 0) mc.max_batch_size = cfg.max_batch_size;
  if (cfg.max_prefill_token_num > 0) mc.max_prefill_token_num = cfg.max_prefill_token_num;
  mc.cache_block_seq_len = cfg.cache_block_seq_len;
  if (cfg.quant_policy != kQuantPolicyUnset) mc.quant_policy = cfg.quant_policy;
  const KvKind kind = kv_kind_for(mc.quant_policy);
  if (kind != KvKind::kF16) LMD_LOG_INFO("KV cache: quant_policy {} ({})", mc.quant_policy,
                                         kind == KvKind::kInt8 ? "int8" : "int4");

  // The chat template's name: --model-name, else the model's name when it is a template,
  // else what the model's Jinja template looks like.
  std::string name = cfg.model_name.empty() ? mc.model_name : cfg.model_name;
  if (!has_template(name)) name = resolve_template_name(name, jinja_chat_template(model_path));
  mc.model_name = name;
  LMD_LOG_INFO("model {}: {} layers, vocab {}, chat template '{}'", model_path, mc.num_layer, mc.vocab_size, name);

  KvLayout layout;
  layout.num_layer = mc.num_layer;
  layout.kv_head_num = mc.kv_head_num;  // a block's bytes over all ranks: one pool budget
  layout.head_dim = mc.size_per_head;
  layout.block_len = cfg.cache_block_seq_len;
  layout.kind = kind;
  KvPoolRequest pr;
  pr.cache_max_entry_count = cfg.cache_max_entry_count;
  pr.block_bytes = layout.block_bytes();
  pr.available_bytes = available_memory_bytes();
  pr.weight_bytes = 0;
  for (const ModelWeights& rw : ranks) pr.weight_bytes += weight_bytes(rw);
  pr.max_batch_size = mc.max_batch_size;
  pr.session_len = mc.session_len;
  pr.block_len = layout.block_len;
  if (use_cuda) {
    // As lmdeploy: a fraction < 1 is of the devices' free memory once the weights are on them
    // (they are not yet: free now minus their bytes, which kv_pool_blocks subtracts). With tp,
    // rank r holds 1/tp of the weights and of every block on device r: sum devices 0..tp-1.
    pr.available_bytes = 0;
    for (int d = 0; d < cfg.tp; ++d) {
      DeviceMemoryInfo mem;
      std::string why;
      LMD_CHECK_KIND(cuda_device_memory(d, &mem, &why), kUnsupported) << "--device cuda: " << why;
      pr.available_bytes += mem.free_bytes;
      LMD_LOG_INFO("CUDA device {}: {} of {} MiB free", d, mem.free_bytes >> 20, mem.total_bytes >> 20);
    }
  }
  ModelRuntimeOptions opt;
  opt.threads = cfg.threads;
  opt.kv_kind = kind;
  opt.kv_num_blocks = kv_pool_blocks(pr);
  LMD_LOG_INFO("KV pool: {} blocks x {} bytes = {} bytes of {} memory (cache_max_entry_count {}, {} bytes available, "
               "weights {} bytes)",
               opt.kv_num_blocks, pr.block_bytes, static_cast<uint64_t>(opt.kv_num_blocks) * pr.block_bytes,
               use_cuda ? "device" : "host", cfg.cache_max_entry_count, pr.available_bytes, pr.weight_bytes);
  opt.block_len = layout.block_len;
  opt.exact = cfg.numerics == "exact";
  opt.llamacpp_numerics = cfg.numerics == "llama.cpp";
  if (use_cuda) {
    // Static int8 kv_qparams: the CUDA backend quantises with them in rope_kv_write.
    opt.make_backend = [] { return create_cuda_backend(); };
    if (cfg.tp > 1) {
      // Tensor parallel: rank r on CUDA device r, the all-reduces through NCCL (under the CPU
      // shim, CPU communicators: comm/nccl_communicator.h create_cuda_communicators).
      opt.make_rank_backend = [](int rank) {
        CudaBackendOptions bo;
        bo.device = rank;
        return create_cuda_backend(bo);
      };
      opt.make_comms = [](int n) {
        std::vector<int> devices(n);
        for (int r = 0; r < n; ++r) devices[r] = r;
        return create_cuda_communicators(devices);
      };
    }
  }
  for (ModelWeights& rw : ranks) rw.config = mc;
  std::unique_ptr<Model> model = create_model_for_ranks(ranks, opt);
  ranks.clear();  // the model holds its own (repacked) copy

  EngineConfig ec = cfg;
  ec.model_name = name;
  return create(std::move(model), std::make_unique<TokenizerCodec>(std::move(tokenizer)), ec);
}

}  // namespace lmd
