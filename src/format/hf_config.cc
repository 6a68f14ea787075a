#include "format/hf_config.h"

#include <fstream>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace lmd {
namespace {

using json = nlohmann::json;

struct ArchInfo {
  const char* hf_name;
  const char* arch;  // ModelConfig::architecture
};
constexpr ArchInfo kArchs[] = {
    {"LlamaForCausalLM", "llama"},
    {"MistralForCausalLM", "mistral"},
    {"InternLMForCausalLM", "internlm"},
    {"Qwen2ForCausalLM", "qwen2"},
};

bool is_dir(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// A required integer field; `path` names the file in the message.
int64_t req_int(const json& j, const char* key, const std::string& path) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    throw Error(path + ": missing field '" + key + "'");
  }
  LMD_CHECK(it->is_number_integer()) << path << ": field '" << key << "' must be an integer, got " << it->dump();
  const int64_t v = it->get<int64_t>();
  LMD_CHECK(v > 0) << path << ": field '" << key << "' must be positive, got " << v;
  return v;
}

int64_t opt_int(const json& j, const char* key, int64_t def, const std::string& path) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  LMD_CHECK(it->is_number_integer()) << path << ": field '" << key << "' must be an integer, got " << it->dump();
  return it->get<int64_t>();
}

double opt_num(const json& j, const char* key, double def, const std::string& path) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  LMD_CHECK(it->is_number()) << path << ": field '" << key << "' must be a number, got " << it->dump();
  return it->get<double>();
}

bool opt_bool(const json& j, const char* key, bool def, const std::string& path) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  LMD_CHECK(it->is_boolean()) << path << ": field '" << key << "' must be true/false, got " << it->dump();
  return it->get<bool>();
}

// bos/eos ids: an integer or a list of integers (the first is used).
int token_id(const json& j, const char* key, int def, const std::string& path) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (it->is_array()) {
    if (it->empty()) return def;
    LMD_CHECK((*it)[0].is_number_integer()) << path << ": field '" << key << "' must hold integers, got " << it->dump();
    return (*it)[0].get<int>();
  }
  LMD_CHECK(it->is_number_integer()) << path << ": field '" << key << "' must be an integer or a list, got " << it->dump();
  return it->get<int>();
}

HfQuantConfig parse_quant(const json& q, const std::string& path) {
  HfQuantConfig out;
  LMD_CHECK(q.is_object()) << path << ": field 'quantization_config' must be an object";
  out.present = true;
  out.quant_method = q.value("quant_method", std::string());
  out.version = q.value("version", std::string());
  // AutoAWQ's own quant_config.json spells these w_bit / q_group_size.
  out.bits = static_cast<int>(opt_int(q, "bits", opt_int(q, "w_bit", 0, path), path));
  out.group_size = static_cast<int>(opt_int(q, "group_size", opt_int(q, "q_group_size", 0, path), path));
  out.zero_point = opt_bool(q, "zero_point", true, path);
  return out;
}

}  // namespace

std::string supported_hf_architectures() {
  std::string s;
  for (const auto& a : kArchs) {
    if (!s.empty()) s += ", ";
    s += a.hf_name;
  }
  return s;
}

HfModelInfo parse_hf_config(const std::string& path_in) {
  const std::string path = is_dir(path_in) ? path_in + "/config.json" : path_in;
  std::ifstream f(path);
  LMD_CHECK_KIND(f.good(), kNotFound) << path << ": cannot open (no config.json?)";
  json j;
  try {
    j = json::parse(f);
  } catch (const json::exception& e) {
    throw Error(path + ": invalid JSON: " + e.what());
  }
  LMD_CHECK(j.is_object()) << path << ": expected a JSON object";
  return parse_hf_config_json(j, path);
}

HfModelInfo parse_hf_config_json(const json& j, const std::string& path) {
  HfModelInfo info;
  // The architecture: "architectures": ["LlamaForCausalLM"], else model_type.
  std::string hf_arch;
  if (j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty() &&
      j["architectures"][0].is_string()) {
    hf_arch = j["architectures"][0].get<std::string>();
  } else if (j.contains("model_type") && j["model_type"].is_string()) {
    const std::string mt = j["model_type"].get<std::string>();
    if (mt == "llama") hf_arch = "LlamaForCausalLM";
    else if (mt == "mistral") hf_arch = "MistralForCausalLM";
    else if (mt == "internlm") hf_arch = "InternLMForCausalLM";
    else if (mt == "qwen2") hf_arch = "Qwen2ForCausalLM";
    else hf_arch = mt;
  } else {
    throw Error(path + ": missing field 'architectures'");
  }
  const ArchInfo* arch = nullptr;
  for (const auto& a : kArchs) {
    if (hf_arch == a.hf_name) arch = &a;
  }
  if (!arch) {
    throw Error(path + ": unsupported architecture " + hf_arch + " (supported: " + supported_hf_architectures() + ")",
                Error::Kind::kUnsupported);
  }
  info.hf_architecture = hf_arch;

  ModelConfig& c = info.config;
  c.architecture = arch->arch;
  c.hidden_units = static_cast<int>(req_int(j, "hidden_size", path));
  c.head_num = static_cast<int>(req_int(j, "num_attention_heads", path));
  c.num_layer = static_cast<int>(req_int(j, "num_hidden_layers", path));
  c.inter_size = static_cast<int>(req_int(j, "intermediate_size", path));
  c.vocab_size = static_cast<int>(req_int(j, "vocab_size", path));
  c.kv_head_num = static_cast<int>(opt_int(j, "num_key_value_heads", c.head_num, path));
  LMD_CHECK(c.kv_head_num > 0 && c.head_num % c.kv_head_num == 0)
      << path << ": num_key_value_heads " << c.kv_head_num << " does not divide num_attention_heads " << c.head_num;
  if (j.contains("head_dim") && !j["head_dim"].is_null()) {
    c.size_per_head = static_cast<int>(req_int(j, "head_dim", path));
  } else {
    LMD_CHECK(c.hidden_units % c.head_num == 0)
        << path << ": hidden_size " << c.hidden_units << " is not a multiple of num_attention_heads " << c.head_num;
    c.size_per_head = c.hidden_units / c.head_num;
  }
  LMD_CHECK(c.size_per_head % 2 == 0) << path << ": head dimension " << c.size_per_head << " must be even for RoPE";
  c.rotary_embedding = c.size_per_head;
  c.norm_eps = static_cast<float>(opt_num(j, "rms_norm_eps", 1e-6, path));
  c.rope_theta = static_cast<float>(opt_num(j, "rope_theta", 10000.0, path));
  c.max_position_embeddings = static_cast<int>(opt_int(j, "max_position_embeddings", 2048, path));
  LMD_CHECK(c.max_position_embeddings > 0)
      << path << ": field 'max_position_embeddings' must be positive, got " << c.max_position_embeddings;
  c.session_len = c.max_position_embeddings;
  c.tie_word_embeddings = opt_bool(j, "tie_word_embeddings", false, path);
  c.start_id = token_id(j, "bos_token_id", c.start_id, path);
  c.end_id = token_id(j, "eos_token_id", c.end_id, path);

  if (c.architecture == "internlm") {
    c.attn_bias = opt_bool(j, "bias", true, path);  // InternLMConfig defaults bias=True
  } else if (c.architecture == "qwen2") {
    c.attn_bias = true;  // Qwen2Config has no field for it: q/k/v always carry a bias
    // Sliding-window attention is off in every released Qwen2 / Qwen2.5 config; refuse it
    // rather than attend over the whole context silently.
    LMD_CHECK_KIND(!opt_bool(j, "use_sliding_window", false, path), kUnsupported)
        << path << ": use_sliding_window = true (sliding-window attention) is not supported";
  } else {
    c.attn_bias = opt_bool(j, "attention_bias", false, path);
  }

  auto rs = j.find("rope_scaling");
  if (rs != j.end() && !rs->is_null()) {
    LMD_CHECK(rs->is_object()) << path << ": field 'rope_scaling' must be an object, got " << rs->dump();
    std::string type = rs->value("type", rs->value("rope_type", std::string()));
    if (type != "dynamic" && type != "linear") {
      throw Error(path + ": rope_scaling type '" + type + "' is not supported (supported: dynamic, linear)",
                  Error::Kind::kUnsupported);
    }
    c.rope_scaling_factor = static_cast<float>(opt_num(*rs, "factor", 0.0, path));
    LMD_CHECK(c.rope_scaling_factor > 0) << path << ": rope_scaling.factor must be positive";
  }

  info.torch_dtype = j.value("torch_dtype", std::string());
  c.weight_type = info.torch_dtype == "bfloat16" ? DType::kBF16
                  : info.torch_dtype == "float32" ? DType::kF32
                                                  : DType::kF16;
  if (j.contains("quantization_config") && !j["quantization_config"].is_null()) {
    info.quant = parse_quant(j["quantization_config"], path);
  }
  return info;
}

}  // namespace lmd
