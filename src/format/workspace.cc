#include "format/workspace.h"

#include <INIReader.h>
#include <sys/stat.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/quant_policy.h"

namespace lmd::workspace {
namespace {

constexpr const char* kSection = "llama";
constexpr const char* kTypesSection = "tensor_types";

bool file_size(const std::string& path, int64_t* size) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  *size = static_cast<int64_t>(st.st_size);
  return true;
}

// Shortest decimal that reads back as the same float ("1e-05", "100000", "0.5").
std::string fmt_float(float v) {
  char buf[64];
  for (int prec = 6; prec <= 9; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, static_cast<double>(v));
    if (std::strtof(buf, nullptr) == v) break;
  }
  std::string s = buf;
  // Keep a float looking like one (the seed writes "10000.0", "0.0").
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

void write_file(const std::string& path, const uint8_t* data, size_t n, WriteStats* stats) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  LMD_CHECK(f != nullptr) << "cannot write " << path << ": " << std::strerror(errno);
  const size_t wrote = n ? std::fwrite(data, 1, n, f) : 0;
  const int close_rc = std::fclose(f);
  LMD_CHECK(wrote == n && close_rc == 0) << "cannot write " << path << ": " << std::strerror(errno);
  if (stats) {
    stats->files += 1;
    stats->bytes += static_cast<int64_t>(n);
  }
}

// Reads a whole file after checking its size; messages name the file and both sizes.
std::vector<uint8_t> read_checked(const std::string& path, int64_t expected) {
  int64_t size = 0;
  LMD_CHECK_KIND(file_size(path, &size), kNotFound) << "workspace tensor file missing: " << path;
  LMD_CHECK(size == expected) << "workspace tensor file " << path << " has " << size << " bytes, config.ini implies "
                              << expected;
  std::vector<uint8_t> out(static_cast<size_t>(expected));
  std::FILE* f = std::fopen(path.c_str(), "rb");
  LMD_CHECK(f != nullptr) << "cannot read " << path << ": " << std::strerror(errno);
  const size_t got = expected ? std::fread(out.data(), 1, out.size(), f) : 0;
  std::fclose(f);
  LMD_CHECK(got == out.size()) << "cannot read " << path << ": short read";
  return out;
}

WeightTensor read_matrix(const std::string& dir, const std::string& base, DType dt, int group, int64_t rows,
                         int64_t cols) {
  const std::string p = dir + "/" + base;
  switch (dt) {
    case DType::kInt4: {
      auto q = read_checked(p + ".qweight", rows * cols / 2);
      auto sz = read_checked(p + ".scales_zeros", rows * (cols / group) * 4);
      return make_int4(rows, cols, group, std::move(q), std::move(sz));
    }
    case DType::kI8: {
      auto q = read_checked(p + ".qweight", rows * cols);
      auto s = read_checked(p + ".scales", rows * (cols / group) * 2);
      return make_int8_grouped(rows, cols, group, std::move(q), std::move(s));
    }
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16: {
      WeightTensor t;
      t.dtype = dt;
      t.shape = {rows, cols};
      t.data = read_checked(p + ".weight", rows * cols * static_cast<int64_t>(dtype_size(dt)));
      return t;
    }
    default:
      throw Error("workspace: tensor " + base + " has unsupported type " + dtype_name(dt));
  }
}

WeightTensor read_vector(const std::string& path, int64_t n) {
  WeightTensor t;
  t.dtype = DType::kF32;
  t.shape = {n};
  t.data = read_checked(path, n * 4);
  return t;
}

// Rows [r0, r0 + n) of a row-major tensor (any dtype: int4 rows are whole bytes).
WeightTensor take_rows(const WeightTensor& t, int64_t r0, int64_t n) {
  WeightTensor out;
  out.dtype = t.dtype;
  out.group_size = t.group_size;
  out.shape = t.shape;
  out.shape[0] = n;
  const int64_t row_bytes = static_cast<int64_t>(t.data.size()) / t.rows();
  out.data.assign(t.data.begin() + r0 * row_bytes, t.data.begin() + (r0 + n) * row_bytes);
  if (!t.aux.empty()) {
    const int64_t aux_row = static_cast<int64_t>(t.aux.size()) / t.rows();
    out.aux.assign(t.aux.begin() + r0 * aux_row, t.aux.begin() + (r0 + n) * aux_row);
  }
  return out;
}

// ---- config.ini parsing: strict, every message names file, field and value ----

class IniFields {
 public:
  IniFields(const INIReader& r, const std::string& path) : r_(r), path_(path) {}
  bool has(const char* k) const { return r_.HasValue(kSection, k); }
  std::string str(const char* k) const {
    LMD_CHECK(has(k)) << path_ << ": missing field '" << k << "' in [llama]";
    return r_.Get(kSection, k, "");
  }
  int64_t integer(const char* k, const int64_t* def = nullptr) const {
    if (!has(k) && def) return *def;
    const std::string s = str(k);
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(s.c_str(), &end, 10);
    LMD_CHECK(!s.empty() && *end == '\0' && errno == 0)
        << path_ << ": field '" << k << "' = '" << s << "' is not an integer";
    return v;
  }
  int positive(const char* k) const {
    const int64_t v = integer(k);
    LMD_CHECK(v > 0 && v < (1LL << 31)) << path_ << ": field '" << k << "' = " << v << " must be positive";
    return static_cast<int>(v);
  }
  int non_negative(const char* k, int64_t def) const {
    const int64_t v = integer(k, &def);
    LMD_CHECK(v >= 0 && v < (1LL << 31)) << path_ << ": field '" << k << "' = " << v << " must be >= 0";
    return static_cast<int>(v);
  }
  bool flag(const char* k, bool def) const {
    const int64_t d = def ? 1 : 0;
    const int64_t v = integer(k, &d);
    LMD_CHECK(v == 0 || v == 1) << path_ << ": field '" << k << "' = " << v << " must be 0 or 1";
    return v == 1;
  }
  float real(const char* k, float def, bool required = false) const {
    if (!has(k) && !required) return def;
    const std::string s = str(k);
    char* end = nullptr;
    const float v = std::strtof(s.c_str(), &end);
    LMD_CHECK(!s.empty() && *end == '\0' && std::isfinite(v))
        << path_ << ": field '" << k << "' = '" << s << "' is not a number";
    return v;
  }
  DType dtype(const char* section, const std::string& k, const std::string& def) const {
    const std::string s = r_.Get(section, k, def);
    DType t;
    try {
      t = parse_dtype(s);
    } catch (const Error&) {
      throw Error(path_ + ": field '" + k + "' = '" + s + "' is not a weight type (fp32, fp16, bf16, int8, int4)");
    }
    LMD_CHECK(t == DType::kF32 || t == DType::kF16 || t == DType::kBF16 || t == DType::kI8 || t == DType::kInt4)
        << path_ << ": field '" << k << "' = '" << s << "' is not a weight type (fp32, fp16, bf16, int8, int4)";
    return t;
  }

 private:
  const INIReader& r_;
  const std::string& path_;
};

std::vector<std::string> layer_matrix_bases(int layer) {
  const std::string p = "layers." + std::to_string(layer) + ".";
  return {p + "attention.w_qkv", p + "attention.wo", p + "feed_forward.w1", p + "feed_forward.w3",
          p + "feed_forward.w2"};
}

}  // namespace

std::string weights_dir(const std::string& ws) { return ws + "/triton_models/weights"; }
std::string tokenizer_dir(const std::string& ws) { return ws + "/triton_models/tokenizer"; }

bool is_workspace(const std::string& path) {
  int64_t size = 0;
  return file_size(weights_dir(path) + "/config.ini", &size);
}

DType WorkspaceConfig::matrix_type(const std::string& base) const {
  auto it = tensor_types.find(base);
  if (it != tensor_types.end()) return it->second;
  if (base == "tok_embeddings") return embedding_type;
  if (base == "output") return output_type;
  return model.weight_type;
}

int WorkspaceConfig::group_of(DType t) const {
  if (t == DType::kInt4) return model.group_size;
  if (t == DType::kI8) return int8_group_size;
  return 0;
}

void write_config_ini(const std::string& path, const WorkspaceConfig& cfg) {
  const ModelConfig& m = cfg.model;
  std::ostringstream o;
  o << "[llama]\n";
  // The seed tutorial's fields, in its order.
  o << "model_name = " << m.model_name << "\n";
  o << "tensor_para_size = " << m.tensor_para_size << "\n";
  o << "head_num = " << m.head_num << "\n";
  o << "kv_head_num = " << m.kv_head_num << "\n";
  o << "vocab_size = " << m.vocab_size << "\n";
  o << "num_layer = " << m.num_layer << "\n";
  o << "inter_size = " << m.inter_size << "\n";
  o << "norm_eps = " << fmt_float(m.norm_eps) << "\n";
  o << "attn_bias = " << (m.attn_bias ? 1 : 0) << "\n";
  o << "start_id = " << m.start_id << "\n";
  o << "end_id = " << m.end_id << "\n";
  o << "session_len = " << m.session_len << "\n";
  o << "weight_type = " << dtype_name(m.weight_type) << "\n";
  o << "rotary_embedding = " << m.rotary_embedding << "\n";
  o << "rope_theta = " << fmt_float(m.rope_theta) << "\n";
  o << "size_per_head = " << m.size_per_head << "\n";
  o << "group_size = " << m.group_size << "\n";
  o << "max_batch_size = " << m.max_batch_size << "\n";
  o << "max_context_token_num = " << m.max_context_token_num << "\n";
  o << "step_length = " << m.step_length << "\n";
  o << "cache_max_entry_count = " << fmt_float(m.cache_max_entry_count) << "\n";
  o << "cache_block_seq_len = " << m.cache_block_seq_len << "\n";
  o << "cache_chunk_size = " << m.cache_chunk_size << "\n";
  o << "use_context_fmha = " << m.use_context_fmha << "\n";
  o << "quant_policy = " << m.quant_policy << "\n";
  o << "max_position_embeddings = " << m.max_position_embeddings << "\n";
  o << "rope_scaling_factor = " << fmt_float(m.rope_scaling_factor) << "\n";
  o << "use_logn_attn = " << m.use_logn_attn << "\n";
  // Ours (docs/workspace.md).
  o << "hidden_units = " << m.hidden_units << "\n";
  o << "tie_word_embeddings = " << (m.tie_word_embeddings ? 1 : 0) << "\n";
  o << "architecture = " << m.architecture << "\n";
  o << "embedding_type = " << dtype_name(cfg.embedding_type) << "\n";
  o << "output_type = " << dtype_name(cfg.output_type) << "\n";
  o << "int8_group_size = " << cfg.int8_group_size << "\n";
  o << "max_prefill_token_num = " << m.max_prefill_token_num << "\n";
  if (!cfg.tensor_types.empty()) {
    o << "\n[tensor_types]\n";
    for (const auto& [name, t] : cfg.tensor_types) o << name << " = " << dtype_name(t) << "\n";
  }
  const std::string s = o.str();
  write_file(path, reinterpret_cast<const uint8_t*>(s.data()), s.size(), nullptr);
}

WorkspaceConfig read_config_ini(const std::string& path) {
  int64_t size = 0;
  LMD_CHECK_KIND(file_size(path, &size), kNotFound) << "workspace config missing: " << path;
  INIReader r(path);
  LMD_CHECK(r.ParseError() == 0) << path << ": cannot parse (line " << r.ParseError() << ")";
  LMD_CHECK(r.HasSection(kSection)) << path << ": no [llama] section";
  IniFields f(r, path);
  WorkspaceConfig cfg;
  ModelConfig& m = cfg.model;
  m.model_name = f.str("model_name");
  LMD_CHECK(!m.model_name.empty()) << path << ": field 'model_name' is empty";
  m.tensor_para_size = f.positive("tensor_para_size");
  m.head_num = f.positive("head_num");
  m.kv_head_num = f.positive("kv_head_num");
  m.vocab_size = f.positive("vocab_size");
  m.num_layer = f.positive("num_layer");
  m.inter_size = f.positive("inter_size");
  m.norm_eps = f.real("norm_eps", 0, true);
  LMD_CHECK(m.norm_eps > 0) << path << ": field 'norm_eps' = " << m.norm_eps << " must be positive";
  m.attn_bias = f.flag("attn_bias", false);
  m.start_id = static_cast<int>(f.integer("start_id"));
  m.end_id = static_cast<int>(f.integer("end_id"));
  m.session_len = f.positive("session_len");
  m.weight_type = f.dtype(kSection, "weight_type", "");
  m.size_per_head = f.positive("size_per_head");
  const int64_t rot_def = m.size_per_head;
  m.rotary_embedding = static_cast<int>(f.integer("rotary_embedding", &rot_def));
  LMD_CHECK(m.rotary_embedding > 0 && m.rotary_embedding <= m.size_per_head && m.rotary_embedding % 2 == 0)
      << path << ": field 'rotary_embedding' = " << m.rotary_embedding << " must be even and in (0, size_per_head]";
  m.rope_theta = f.real("rope_theta", 10000.0f);
  LMD_CHECK(m.rope_theta > 0) << path << ": field 'rope_theta' = " << m.rope_theta << " must be positive";
  m.group_size = f.non_negative("group_size", 0);
  m.max_batch_size = f.positive("max_batch_size");
  m.max_context_token_num = f.non_negative("max_context_token_num", 1);
  m.step_length = f.non_negative("step_length", 1);
  m.cache_max_entry_count = f.real("cache_max_entry_count", 0.5f);
  LMD_CHECK(m.cache_max_entry_count > 0)
      << path << ": field 'cache_max_entry_count' = " << m.cache_max_entry_count << " must be positive";
  m.cache_block_seq_len = f.positive("cache_block_seq_len");
  m.cache_chunk_size = f.non_negative("cache_chunk_size", 1);
  m.use_context_fmha = f.non_negative("use_context_fmha", 1);
  // Numbers or names (core/quant_policy.h): 0 | fp16, 4 | 8 | int8, 16 | int4.
  m.quant_policy = parse_quant_policy_value(r.Get(kSection, "quant_policy", "0"), path + ": field 'quant_policy' =");
  m.max_position_embeddings = f.positive("max_position_embeddings");
  m.rope_scaling_factor = f.real("rope_scaling_factor", 0.0f);
  LMD_CHECK(m.rope_scaling_factor >= 0)
      << path << ": field 'rope_scaling_factor' = " << m.rope_scaling_factor << " must be >= 0";
  m.use_logn_attn = f.non_negative("use_logn_attn", 0);
  // Ours; defaults make a v0.1.0 config.ini (no extras) readable.
  const int64_t hid_def = static_cast<int64_t>(m.head_num) * m.size_per_head;
  m.hidden_units = static_cast<int>(f.integer("hidden_units", &hid_def));
  LMD_CHECK(m.hidden_units > 0) << path << ": field 'hidden_units' = " << m.hidden_units << " must be positive";
  m.tie_word_embeddings = f.flag("tie_word_embeddings", false);
  m.architecture = r.Get(kSection, "architecture", "llama");
  const int64_t prefill_def = m.max_prefill_token_num;
  m.max_prefill_token_num = static_cast<int>(f.integer("max_prefill_token_num", &prefill_def));
  LMD_CHECK(m.max_prefill_token_num > 0)
      << path << ": field 'max_prefill_token_num' = " << m.max_prefill_token_num << " must be positive";
  cfg.embedding_type = f.dtype(kSection, "embedding_type", dtype_name(m.weight_type == DType::kInt4 ? DType::kF16 : m.weight_type));
  cfg.output_type = f.dtype(kSection, "output_type", dtype_name(cfg.embedding_type));
  cfg.int8_group_size = f.non_negative("int8_group_size", 0);
  m.rope_pairing = RopePairing::kHalfSplit;  // every workspace is half-split

  // Shape consistency, named by field.
  LMD_CHECK(m.head_num % m.kv_head_num == 0)
      << path << ": kv_head_num " << m.kv_head_num << " does not divide head_num " << m.head_num;
  const int tp = m.tensor_para_size;
  LMD_CHECK(m.head_num % tp == 0 && m.kv_head_num % tp == 0)
      << path << ": head_num " << m.head_num << " / kv_head_num " << m.kv_head_num
      << " not divisible by tensor_para_size " << tp;
  LMD_CHECK(m.inter_size % tp == 0) << path << ": inter_size " << m.inter_size
                                    << " not divisible by tensor_para_size " << tp;
  if (r.HasSection(kTypesSection)) {
    for (int i = 0; i < m.num_layer; ++i) {
      for (const std::string& b : layer_matrix_bases(i)) {
        if (r.HasValue(kTypesSection, b)) cfg.tensor_types[b] = f.dtype(kTypesSection, b, "");
      }
    }
  }
  // Every group size a used type needs must be set and divide the columns it groups.
  auto check_group = [&](DType t, const char* what) {
    if (t == DType::kInt4) {
      LMD_CHECK(m.group_size > 0) << path << ": field 'group_size' = " << m.group_size << " must be positive for int4 ("
                                  << what << ")";
    } else if (t == DType::kI8) {
      LMD_CHECK(cfg.int8_group_size > 0)
          << path << ": field 'int8_group_size' = " << cfg.int8_group_size << " must be positive for int8 (" << what
          << ")";
    }
  };
  check_group(m.weight_type, "weight_type");
  check_group(cfg.embedding_type, "embedding_type");
  if (!m.tie_word_embeddings) check_group(cfg.output_type, "output_type");
  for (const auto& [name, t] : cfg.tensor_types) check_group(t, name.c_str());
  return cfg;
}

void write_tensor(const std::string& dir, const std::string& base, const WeightTensor& t, WriteStats* stats) {
  const std::string p = dir + "/" + base;
  switch (t.dtype) {
    case DType::kInt4:
      write_file(p + ".qweight", t.data.data(), t.data.size(), stats);
      write_file(p + ".scales_zeros", t.aux.data(), t.aux.size(), stats);
      break;
    case DType::kI8:
      LMD_CHECK(t.group_size > 0) << "workspace: int8 tensor " << base << " has no group scales";
      write_file(p + ".qweight", t.data.data(), t.data.size(), stats);
      write_file(p + ".scales", t.aux.data(), t.aux.size(), stats);
      break;
    default:
      write_file(p + ".weight", t.data.data(), t.data.size(), stats);
  }
}

void write_bias(const std::string& dir, const std::string& base, const WeightTensor& t, WriteStats* stats) {
  LMD_CHECK(t.dtype == DType::kF32) << "workspace: bias " << base << " must be fp32, is " << dtype_name(t.dtype);
  write_file(dir + "/" + base + ".bias", t.data.data(), t.data.size(), stats);
}

ModelWeights load_rank(const std::string& ws, int rank) {
  const std::string dir = weights_dir(ws);
  const WorkspaceConfig cfg = read_config_ini(dir + "/config.ini");
  const ModelConfig& m = cfg.model;
  const int tp = m.tensor_para_size;
  LMD_CHECK(rank >= 0 && rank < tp) << ws << ": rank " << rank << " out of range for tensor_para_size " << tp;
  ModelWeights w;
  w.config = m;
  const int64_t hidden = m.hidden_units, vocab = m.vocab_size;
  auto matrix = [&](const std::string& base, const std::string& file_base, int64_t rows, int64_t cols) {
    const DType t = cfg.matrix_type(base);
    const int g = cfg.group_of(t);
    if (g > 0) {
      LMD_CHECK(cols % g == 0 && cols % 2 == 0)
          << dir << ": " << file_base << " has " << cols << " columns, not a multiple of group size " << g;
    }
    return read_matrix(dir, file_base, t, g, rows, cols);
  };
  w.tok_embeddings = matrix("tok_embeddings", "tok_embeddings", vocab, hidden);
  w.norm = read_vector(dir + "/norm.weight", hidden);
  if (!m.tie_word_embeddings) w.output = matrix("output", "output", vocab, hidden);

  const int64_t hd = m.size_per_head;
  const int64_t q_rows = m.head_num / tp * hd, kv_rows = m.kv_head_num / tp * hd;
  const int64_t inter = m.inter_size / tp;
  const std::string rs = "." + std::to_string(rank);
  w.layers.resize(m.num_layer);
  for (int i = 0; i < m.num_layer; ++i) {
    LayerWeights& L = w.layers[i];
    const std::string p = "layers." + std::to_string(i) + ".";
    L.attention_norm = read_vector(dir + "/" + p + "attention_norm.weight", hidden);
    L.ffn_norm = read_vector(dir + "/" + p + "ffn_norm.weight", hidden);
    const WeightTensor qkv = matrix(p + "attention.w_qkv", p + "attention.w_qkv" + rs, q_rows + 2 * kv_rows, hidden);
    L.wq = take_rows(qkv, 0, q_rows);
    L.wk = take_rows(qkv, q_rows, kv_rows);
    L.wv = take_rows(qkv, q_rows + kv_rows, kv_rows);
    if (m.attn_bias) {
      const WeightTensor b = read_vector(dir + "/" + p + "attention.w_qkv" + rs + ".bias", q_rows + 2 * kv_rows);
      auto slice = [&](int64_t r0, int64_t n) {
        WeightTensor s;
        s.dtype = DType::kF32;
        s.shape = {n};
        s.data.assign(b.data.begin() + r0 * 4, b.data.begin() + (r0 + n) * 4);
        return s;
      };
      L.bq = slice(0, q_rows);
      L.bk = slice(q_rows, kv_rows);
      L.bv = slice(q_rows + kv_rows, kv_rows);
    }
    L.wo = matrix(p + "attention.wo", p + "attention.wo" + rs, hidden, q_rows);
    int64_t size = 0;
    // The output-projection bias (InternLM v1) is unsplit; rank 0 adds it.
    if (rank == 0 && file_size(dir + "/" + p + "attention.wo.bias", &size))
      L.bo = read_vector(dir + "/" + p + "attention.wo.bias", hidden);
    // Static int8 KV parameters from `lite kv_qparams`: 4 floats (asymmetric) or 2 (symmetric).
    const std::string kv_scale = dir + "/" + p + "past_kv_scale" + rs + ".weight";
    if (file_size(kv_scale, &size)) {
      LMD_CHECK(size == 16 || size == 8) << kv_scale << " has " << size
                                         << " bytes; expected 16 (k_scale, k_zp, v_scale, v_zp) or 8 (k_scale, v_scale)";
      L.past_kv_scale = read_vector(kv_scale, size / 4);
    }
    L.w1 = matrix(p + "feed_forward.w1", p + "feed_forward.w1" + rs, inter, hidden);
    L.w3 = matrix(p + "feed_forward.w3", p + "feed_forward.w3" + rs, inter, hidden);
    L.w2 = matrix(p + "feed_forward.w2", p + "feed_forward.w2" + rs, hidden, inter);
  }
  return w;
}

std::vector<ModelWeights> load_all_ranks(const std::string& ws) {
  const WorkspaceConfig cfg = read_config_ini(weights_dir(ws) + "/config.ini");
  std::vector<ModelWeights> out;
  for (int r = 0; r < cfg.model.tensor_para_size; ++r) out.push_back(load_rank(ws, r));
  return out;
}

ModelWeights load_for_engine(const std::string& ws, int tp, int rank) {
  const WorkspaceConfig cfg = read_config_ini(weights_dir(ws) + "/config.ini");
  LMD_CHECK(cfg.model.tensor_para_size == tp)
      << ws << " was converted with --tp " << cfg.model.tensor_para_size << " but is loaded with tp " << tp
      << "; convert it again with --tp " << tp;
  return load_rank(ws, rank);
}

}  // namespace lmd::workspace
