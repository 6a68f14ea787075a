// GGUF tokenizer metadata -> BpeTokenizer ("gpt2") or SpmTokenizer ("llama").
#include <algorithm>
#include <unordered_set>

#include "core/error.h"
#include "common/logging.h"
#include "format/gguf.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/loaders.h"
#include "tokenizer/spm_tokenizer.h"

namespace lmd {
namespace {

std::vector<TokenType> token_types(const gguf::GgufFile& f, size_t n) {
  std::vector<TokenType> types(n, TokenType::kNormal);
  if (!f.has("tokenizer.ggml.token_type")) return types;
  const std::vector<int64_t> raw = f.get_int_array("tokenizer.ggml.token_type");
  LMD_CHECK(raw.size() == n) << f.path() << ": tokenizer.ggml.token_type has " << raw.size()
                             << " entries for " << n << " tokens";
  for (size_t i = 0; i < n; ++i) {
    LMD_CHECK(raw[i] >= 0 && raw[i] <= 6) << f.path() << ": tokenizer.ggml.token_type[" << i << "] = " << raw[i]
                                          << " is not a token type (0..6)";
    types[i] = raw[i] == 0 ? TokenType::kNormal : static_cast<TokenType>(raw[i]);
  }
  return types;
}

// llama.cpp does not trust tokenizer.ggml.token_type for tokens that look like turn ends or
// fill-in-the-middle markers: when it loads a vocabulary it makes every token spelled as one
// of these a control token (so text like "</s>" in a prompt becomes that one token when
// special tokens are parsed), whatever the file says. Qwen2.5's vocabulary has "</s>" as an
// ordinary token (128247), so matching llama.cpp's ids needs the same override. Exception, as
// there: a vocabulary that also has "<|tool_response>" (Gemma 4) keeps its "</s>" ordinary.
// (llama.cpp overrides only the first of several FIM spellings present; vocabularies carry
// one of them, so every spelling is treated alike here.)
void mark_control_looking_tokens(const std::vector<std::string>& tokens, std::vector<TokenType>& types) {
  static const std::unordered_set<std::string> kSpellings = {
      // ends of turn / generation
      "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
      "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
      "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
      // fill-in-the-middle
      "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<PRE>", "<|code_prefix|>", "<|prefix|>",
      "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<SUF>", "<|code_suffix|>", "<|suffix|>",
      "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<MID>", "<|code_middle|>", "<|middle|>",
      "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]",
      "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", "<|file_sep|>"};
  const bool keep_s = std::find(tokens.begin(), tokens.end(), "<|tool_response>") != tokens.end();
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (types[i] == TokenType::kControl || !kSpellings.count(tokens[i])) continue;
    if (keep_s && tokens[i] == "</s>") continue;
    types[i] = TokenType::kControl;
  }
}

int32_t token_id(const gguf::GgufFile& f, const std::string& key, size_t n) {
  const int64_t id = f.get_int_or(key, -1);
  if (id < 0 || id >= static_cast<int64_t>(n)) {
    if (id >= 0) LMD_LOG_WARN("{}: {} = {} is outside the vocabulary of {}; ignored", f.path(), key, id, n);
    return -1;
  }
  return static_cast<int32_t>(id);
}

// Pre-tokenizer steps for tokenizer.ggml.pre (names as llama.cpp's converter writes them).
void configure_pre(const gguf::GgufFile& f, const std::string& pre, BpeVocab& v) {
  if (pre == "smollm" || pre == "starcoder" || pre == "refact" || pre == "codeshell" || pre == "command-r") {
    v.splitter.add_step(kDigitPattern);
    v.splitter.add_step(kGpt2Pattern);
  } else if (pre == "llama-bpe" || pre == "llama3") {
    v.splitter.add_step(kLlama3Pattern);
    v.ignore_merges = true;
  } else if (pre == "qwen2") {
    v.splitter.add_step(kQwen2Pattern);
  } else {
    if (pre != "gpt2" && pre != "default") {
      LMD_LOG_WARN("{}: tokenizer.ggml.pre = '{}' is not known here; using the GPT-2 pre-tokenizer", f.path(), pre);
    }
    v.splitter.add_step(kGpt2Pattern);
  }
}

std::unique_ptr<Tokenizer> load_bpe(const gguf::GgufFile& f) {
  BpeVocab v;
  v.tokens = f.get_string_array("tokenizer.ggml.tokens");
  const size_t n = v.tokens.size();
  v.types = token_types(f, n);
  mark_control_looking_tokens(v.tokens, v.types);
  LMD_CHECK(f.has("tokenizer.ggml.merges")) << f.path() << ": BPE vocabulary without tokenizer.ggml.merges";
  for (const std::string& m : f.get_string_array("tokenizer.ggml.merges")) {
    const size_t sp = m.find(' ', 1);
    LMD_CHECK(sp != std::string::npos) << f.path() << ": tokenizer.ggml.merges entry '" << m << "' is not 'a b'";
    v.merges.emplace_back(m.substr(0, sp), m.substr(sp + 1));
  }
  const std::string pre = f.get_string_or("tokenizer.ggml.pre", "default");
  configure_pre(f, pre, v);
  v.bos_id = token_id(f, "tokenizer.ggml.bos_token_id", n);
  v.eos_id = token_id(f, "tokenizer.ggml.eos_token_id", n);
  v.unk_id = token_id(f, "tokenizer.ggml.unknown_token_id", n);
  v.add_bos = f.get_bool_or("tokenizer.ggml.add_bos_token", false);
  v.source = f.path() + ", pre " + pre;
  return std::make_unique<BpeTokenizer>(std::move(v));
}

std::unique_ptr<Tokenizer> load_spm(const gguf::GgufFile& f) {
  SpmVocab v;
  v.tokens = f.get_string_array("tokenizer.ggml.tokens");
  const size_t n = v.tokens.size();
  v.types = token_types(f, n);
  mark_control_looking_tokens(v.tokens, v.types);
  if (f.has("tokenizer.ggml.scores")) {
    const std::vector<double> s = f.get_float_array("tokenizer.ggml.scores");
    LMD_CHECK(s.size() == n) << f.path() << ": tokenizer.ggml.scores has " << s.size() << " entries for " << n
                             << " tokens";
    v.scores.assign(s.begin(), s.end());
  } else {
    v.scores.assign(n, 0.0f);
  }
  v.bos_id = token_id(f, "tokenizer.ggml.bos_token_id", n);
  v.eos_id = token_id(f, "tokenizer.ggml.eos_token_id", n);
  v.unk_id = token_id(f, "tokenizer.ggml.unknown_token_id", n);
  v.add_bos = f.get_bool_or("tokenizer.ggml.add_bos_token", true);
  v.add_space_prefix = f.get_bool_or("tokenizer.ggml.add_space_prefix", true);
  v.source = f.path();
  return std::make_unique<SpmTokenizer>(std::move(v));
}

}  // namespace

std::unique_ptr<Tokenizer> load_gguf_tokenizer(const gguf::GgufFile& f) {
  LMD_CHECK_KIND(f.has("tokenizer.ggml.model") && f.has("tokenizer.ggml.tokens"), kNotFound)
      << f.path() << ": no tokenizer in this GGUF (tokenizer.ggml.model / tokenizer.ggml.tokens missing)";
  const std::string model = f.get_string("tokenizer.ggml.model");
  if (model == "gpt2") return load_bpe(f);
  if (model == "llama") return load_spm(f);
  LMD_FAIL_KIND(kUnsupported) << f.path() << ": tokenizer.ggml.model = '" << model
                              << "' is not supported (gpt2 and llama are)";
  return nullptr;
}

}  // namespace lmd
