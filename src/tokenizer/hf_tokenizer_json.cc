// Hugging Face tokenizer.json (byte-level BPE) -> BpeTokenizer. Reads the parts that
// change ids: model.vocab / merges / ignore_merges, added_tokens, the pre_tokenizer tree
// (Sequence, Split, ByteLevel, Digits); bos/eos/add_bos come from tokenizer_config.json,
// else from a TemplateProcessing post-processor.
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/loaders.h"

namespace lmd {
namespace {

using nlohmann::json;

json read_json(const std::string& path) {
  std::ifstream in(path);
  LMD_CHECK_KIND(in.good(), kNotFound) << "cannot open " << path;
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw Error(path + ": not valid JSON: " + e.what());
  }
}

std::string regex_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (std::string("\\^$.|?*+()[]{}").find(c) != std::string::npos) out += '\\';
    out += c;
  }
  return out;
}

struct PreState {
  bool byte_level = false;
};

void add_pre_tokenizer(const std::string& path, const json& node, BpeVocab& v, PreState& st) {
  if (node.is_null()) return;
  const std::string type = node.value("type", "");
  if (type == "Sequence") {
    for (const json& child : node.at("pretokenizers")) add_pre_tokenizer(path, child, v, st);
  } else if (type == "ByteLevel") {
    st.byte_level = true;
    v.add_prefix_space = node.value("add_prefix_space", false);
    if (node.value("use_regex", true)) v.splitter.add_step(kGpt2Pattern);
  } else if (type == "Digits") {
    v.splitter.add_step(node.value("individual_digits", false) ? R"(\p{N})" : R"(\p{N}+)");
  } else if (type == "Split") {
    const json& pat = node.at("pattern");
    std::string regex;
    if (pat.contains("Regex")) regex = pat.at("Regex").get<std::string>();
    else if (pat.contains("String")) regex = regex_escape(pat.at("String").get<std::string>());
    else LMD_FAIL_KIND(kUnsupported) << path << ": pre_tokenizer Split pattern " << pat.dump() << " not supported";
    LMD_CHECK_KIND(!node.value("invert", false), kUnsupported) << path << ": pre_tokenizer Split with invert=true";
    const std::string behavior = node.value("behavior", "Isolated");
    if (behavior == "Isolated") v.splitter.add_step(regex, RegexSplitter::Behavior::kIsolated);
    else if (behavior == "Removed") v.splitter.add_step(regex, RegexSplitter::Behavior::kRemoved);
    else LMD_FAIL_KIND(kUnsupported) << path << ": pre_tokenizer Split behavior '" << behavior << "' not supported";
  } else {
    LMD_FAIL_KIND(kUnsupported) << path << ": pre_tokenizer type '" << type << "' not supported";
  }
}

// A special token named in tokenizer_config.json: "<s>" or {"content": "<s>", ...}.
std::string config_token(const json& cfg, const char* key) {
  if (!cfg.contains(key)) return {};
  const json& t = cfg.at(key);
  if (t.is_string()) return t.get<std::string>();
  if (t.is_object() && t.contains("content")) return t.at("content").get<std::string>();
  return {};
}

int32_t find_id(const BpeVocab& v, const std::string& text) {
  if (text.empty()) return -1;
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    if (v.tokens[i] == text) return static_cast<int32_t>(i);
  }
  return -1;
}

}  // namespace

std::unique_ptr<Tokenizer> load_hf_tokenizer_json(const std::string& path, const std::string& config_path) {
  const json j = read_json(path);
  try {
    const json& model = j.at("model");
    const std::string type = model.value("type", "");
    LMD_CHECK_KIND(type == "BPE", kUnsupported) << path << ": model.type '" << type << "' is not supported (BPE is)";
    LMD_CHECK_KIND(!j.contains("normalizer") || j.at("normalizer").is_null(), kUnsupported)
        << path << ": normalizer '" << j.at("normalizer").value("type", "?") << "' is not supported";

    BpeVocab v;
    v.source = path;
    for (const auto& [piece, id_json] : model.at("vocab").items()) {
      const int64_t id = id_json.get<int64_t>();
      LMD_CHECK(id >= 0 && id < (1 << 24)) << path << ": vocab id " << id << " of '" << piece << "' out of range";
      if (static_cast<size_t>(id) >= v.tokens.size()) v.tokens.resize(id + 1);
      v.tokens[id] = piece;
    }
    v.types.assign(v.tokens.size(), TokenType::kNormal);
    for (const json& at : j.value("added_tokens", json::array())) {
      const int64_t id = at.at("id").get<int64_t>();
      LMD_CHECK(id >= 0 && id < (1 << 24)) << path << ": added token id " << id << " out of range";
      if (static_cast<size_t>(id) >= v.tokens.size()) {
        v.tokens.resize(id + 1);
        v.types.resize(id + 1, TokenType::kUnused);
      }
      v.tokens[id] = at.at("content").get<std::string>();
      v.types[id] = at.value("special", false) ? TokenType::kControl : TokenType::kUserDefined;
    }
    for (const json& m : model.value("merges", json::array())) {
      if (m.is_string()) {
        const std::string s = m.get<std::string>();
        const size_t sp = s.find(' ', 1);
        LMD_CHECK(sp != std::string::npos) << path << ": merge '" << s << "' is not 'a b'";
        v.merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
      } else {
        LMD_CHECK(m.is_array() && m.size() == 2) << path << ": merge " << m.dump() << " is not [a, b]";
        v.merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
      }
    }
    v.ignore_merges = model.value("ignore_merges", false);

    PreState st;
    if (j.contains("pre_tokenizer")) add_pre_tokenizer(path, j.at("pre_tokenizer"), v, st);
    const bool byte_decoder = j.contains("decoder") && j.at("decoder").is_object() &&
                              j.at("decoder").value("type", "") == "ByteLevel";
    LMD_CHECK_KIND(st.byte_level || byte_decoder, kUnsupported)
        << path << ": BPE without ByteLevel pre-tokenizer/decoder (SentencePiece-style BPE) is not supported";
    const json unk = model.value("unk_token", json());
    if (unk.is_string()) v.unk_id = find_id(v, unk.get<std::string>());

    // Defaults from the post-processor: TemplateProcessing whose single template starts
    // with a special token means "add BOS".
    const json post = j.value("post_processor", json());
    if (post.is_object() && post.value("type", "") == "TemplateProcessing" && post.contains("single") &&
        !post.at("single").empty() && post.at("single")[0].contains("SpecialToken")) {
      v.bos_id = find_id(v, post.at("single")[0].at("SpecialToken").value("id", ""));
      v.add_bos = v.bos_id >= 0;
    }
    if (!config_path.empty()) {
      std::ifstream probe(config_path);
      if (probe.good()) {
        const json cfg = read_json(config_path);
        if (int32_t id = find_id(v, config_token(cfg, "bos_token")); id >= 0) v.bos_id = id;
        if (int32_t id = find_id(v, config_token(cfg, "eos_token")); id >= 0) v.eos_id = id;
        if (cfg.contains("add_bos_token") && cfg.at("add_bos_token").is_boolean()) {
          v.add_bos = cfg.at("add_bos_token").get<bool>();
        }
      }
    }
    return std::make_unique<BpeTokenizer>(std::move(v));
  } catch (const json::exception& e) {
    throw Error(path + ": unexpected tokenizer.json layout: " + e.what());
  }
}

}  // namespace lmd
