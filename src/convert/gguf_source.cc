// GGUF -> ModelWeights (see sources.h for the type mapping).
#include <cstring>

#include "core/error.h"
#include "common/logging.h"
#include "convert/gguf_repack.h"
#include "convert/rope_permute.h"
#include "convert/sources.h"
#include "format/gguf.h"

namespace lmd::convert {
namespace {

using gguf::GgmlType;
using gguf::GgufFile;
using gguf::TensorInfo;

// A GGUF tensor as WeightTensor; `rows`/`cols` are the expected PyTorch shape ([n] when
// cols == 0). `dense_f32` forces fp32 (norms, biases).
WeightTensor read_tensor(const GgufFile& f, const std::string& name, int64_t rows, int64_t cols, bool dense_f32) {
  const TensorInfo& t = f.tensor(name);
  const bool vec = cols == 0;
  const std::vector<int64_t> want = vec ? std::vector<int64_t>{rows} : std::vector<int64_t>{cols, rows};
  LMD_CHECK(t.ne == want) << f.path() << ": tensor " << name << " has shape ne=[" << t.ne[0]
                          << (t.ne.size() > 1 ? "," + std::to_string(t.ne[1]) : std::string()) << "], expected ne=["
                          << want[0] << (vec ? std::string() : "," + std::to_string(want[1])) << "]";
  const std::vector<int64_t> shape = vec ? std::vector<int64_t>{rows} : std::vector<int64_t>{rows, cols};
  if (!dense_f32 && !vec) return gguf_matrix_to_weight(f, t);  // the type table: gguf_repack.h
  const uint8_t* src = f.tensor_data(t);
  if (static_cast<GgmlType>(t.type) == GgmlType::F32) {
    WeightTensor w;
    w.dtype = DType::kF32;
    w.shape = shape;
    w.data.assign(src, src + t.nbytes);
    return w;
  }
  const std::vector<float> v = gguf::dequantize_tensor(f, t);  // throws naming unsupported types
  return make_dense(DType::kF32, shape, v.data());
}

// As read_tensor, then t's file pages leave RSS: the load's peak holds the file's bytes only
// for the tensor being converted, not the whole file beside its converted copy.
WeightTensor load_tensor(const GgufFile& f, const std::string& name, int64_t rows, int64_t cols, bool dense_f32) {
  WeightTensor w = read_tensor(f, name, rows, cols, dense_f32);
  f.drop_tensor_pages(f.tensor(name));
  return w;
}

// What differs between the GGUF architectures we load (llama.cpp's conventions):
struct GgufArch {
  const char* name;        // general.architecture, also the metadata keys' prefix
  bool qk_rows_permuted;   // convert_hf_to_gguf permutes llama's q/k rows for adjacent-pair RoPE
                           // (LLAMA_ROPE_TYPE_NORM); qwen2 keeps HF's order and llama.cpp rotates
                           // it half-split (LLAMA_ROPE_TYPE_NEOX)
  bool qkv_bias;           // blk.N.attn_{q,k,v}.bias are required
};
constexpr GgufArch kGgufArchs[] = {
    {"llama", true, false},
    {"qwen2", false, true},
};

const GgufArch* find_gguf_arch(const std::string& name) {
  for (const GgufArch& a : kGgufArchs)
    if (name == a.name) return &a;
  return nullptr;
}

}  // namespace

std::string supported_gguf_architectures() {
  std::string s;
  for (const GgufArch& a : kGgufArchs) s += (s.empty() ? "" : ", ") + std::string(a.name);
  return s;
}

ModelWeights load_gguf_weights(const std::string& path, bool keep_gguf_rope_layout) {
  auto f = GgufFile::open(path);
  const std::string arch = f->get_string("general.architecture");  // also the metadata keys' prefix
  const GgufArch* traits = find_gguf_arch(arch);
  if (!traits) {
    throw Error(path + ": unsupported GGUF architecture " + arch + " (supported: " + supported_gguf_architectures() + ")",
                Error::Kind::kUnsupported);
  }
  auto key = [&](const std::string& k) { return arch + "." + k; };
  ModelWeights w;
  ModelConfig& c = w.config;
  c.architecture = arch;
  c.num_layer = static_cast<int>(f->get_int(key("block_count")));
  c.hidden_units = static_cast<int>(f->get_int(key("embedding_length")));
  c.inter_size = static_cast<int>(f->get_int(key("feed_forward_length")));
  c.head_num = static_cast<int>(f->get_int(key("attention.head_count")));
  c.kv_head_num = static_cast<int>(f->get_int_or(key("attention.head_count_kv"), c.head_num));
  LMD_CHECK(c.num_layer > 0 && c.hidden_units > 0 && c.inter_size > 0 && c.head_num > 0 && c.kv_head_num > 0 &&
            c.head_num % c.kv_head_num == 0)
      << path << ": bad shape metadata (layers " << c.num_layer << ", hidden " << c.hidden_units << ", heads "
      << c.head_num << "/" << c.kv_head_num << ")";
  c.size_per_head = static_cast<int>(f->get_int_or(key("attention.key_length"), c.hidden_units / c.head_num));
  c.rotary_embedding = static_cast<int>(f->get_int_or(key("rope.dimension_count"), c.size_per_head));
  c.norm_eps = static_cast<float>(f->get_float(key("attention.layer_norm_rms_epsilon")));
  c.rope_theta = static_cast<float>(f->get_float_or(key("rope.freq_base"), 10000.0));
  c.max_position_embeddings = static_cast<int>(f->get_int_or(key("context_length"), 2048));
  c.session_len = c.max_position_embeddings;
  const std::string scaling = f->get_string_or(key("rope.scaling.type"), "none");
  if (scaling != "none") {
    LMD_CHECK_KIND(scaling == "linear", kUnsupported) << path << ": rope scaling '" << scaling << "' is not supported";
    c.rope_scaling_factor = static_cast<float>(f->get_float(key("rope.scaling.factor")));
  }
  c.start_id = static_cast<int>(f->get_int_or("tokenizer.ggml.bos_token_id", c.start_id));
  c.end_id = static_cast<int>(f->get_int_or("tokenizer.ggml.eos_token_id", c.end_id));

  const int64_t hidden = c.hidden_units;
  const TensorInfo& emb = f->tensor("token_embd.weight");
  LMD_CHECK(emb.ne.size() == 2) << path << ": token_embd.weight is not a matrix";
  c.vocab_size = static_cast<int>(emb.ne[1]);
  if (f->has(key("vocab_size"))) {
    LMD_CHECK(f->get_int(key("vocab_size")) == c.vocab_size)
        << path << ": " << key("vocab_size") << " " << f->get_int(key("vocab_size"))
        << " differs from token_embd.weight rows " << c.vocab_size;
  }
  const int64_t q_dim = c.q_dim(), kv_dim = c.kv_dim(), inter = c.inter_size;
  w.tok_embeddings = load_tensor(*f, "token_embd.weight", c.vocab_size, hidden, false);
  w.norm = load_tensor(*f, "output_norm.weight", hidden, 0, true);
  c.tie_word_embeddings = f->find_tensor("output.weight") == nullptr;
  if (!c.tie_word_embeddings) w.output = load_tensor(*f, "output.weight", c.vocab_size, hidden, false);

  // Only permuted rows need undoing; unpermuted ones are half-split already, whatever the caller asked.
  const bool unpermute = traits->qk_rows_permuted && !keep_gguf_rope_layout;
  c.rope_pairing = traits->qk_rows_permuted && keep_gguf_rope_layout ? RopePairing::kAdjacent : RopePairing::kHalfSplit;
  w.layers.resize(c.num_layer);
  for (int i = 0; i < c.num_layer; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    LayerWeights& L = w.layers[i];
    L.attention_norm = load_tensor(*f, p + "attn_norm.weight", hidden, 0, true);
    L.ffn_norm = load_tensor(*f, p + "ffn_norm.weight", hidden, 0, true);
    L.wq = load_tensor(*f, p + "attn_q.weight", q_dim, hidden, false);
    L.wk = load_tensor(*f, p + "attn_k.weight", kv_dim, hidden, false);
    L.wv = load_tensor(*f, p + "attn_v.weight", kv_dim, hidden, false);
    // qwen2's biases are required (a missing one is an error naming it); llama's optional.
    if (traits->qkv_bias || f->find_tensor(p + "attn_q.bias")) {
      c.attn_bias = true;
      L.bq = load_tensor(*f, p + "attn_q.bias", q_dim, 0, true);
      L.bk = load_tensor(*f, p + "attn_k.bias", kv_dim, 0, true);
      L.bv = load_tensor(*f, p + "attn_v.bias", kv_dim, 0, true);
    }
    LMD_CHECK_KIND(f->find_tensor(p + "attn_output.bias") == nullptr, kUnsupported)
        << path << ": " << p << "attn_output.bias (output projection bias) is not supported";
    if (unpermute) {
      unpermute_gguf_rows(L.wq, c.head_num);
      unpermute_gguf_rows(L.wk, c.kv_head_num);
      if (!L.bq.empty()) {
        unpermute_gguf_rows(L.bq, c.head_num);
        unpermute_gguf_rows(L.bk, c.kv_head_num);
      }
    }
    L.wo = load_tensor(*f, p + "attn_output.weight", hidden, q_dim, false);
    L.w1 = load_tensor(*f, p + "ffn_gate.weight", inter, hidden, false);
    L.w3 = load_tensor(*f, p + "ffn_up.weight", inter, hidden, false);
    L.w2 = load_tensor(*f, p + "ffn_down.weight", hidden, inter, false);
  }
  // The linear weights' dominant type (informational; each tensor carries its own).
  c.weight_type = w.layers.empty() ? DType::kF32 : w.layers[0].wq.dtype;
  c.group_size = c.weight_type == DType::kInt4 ? w.layers[0].wq.group_size : 0;
  return w;
}

}  // namespace lmd::convert
