// `lmdeploy lite ppl MODEL --dataset FILE`: perplexity of the engine's model (any model path
// the engine takes) on a text file, in non-overlapping windows of session_len tokens (or
// --window), with the KV cache kind under test (--quant-policy). The text is tokenized
// once (with BOS); every window scores its tokens 1..len-1 given the tokens before them in
// that window. ppl = exp(sum nll / tokens scored).
#pragma once

#include <cstdint>
#include <string>

namespace lmd::lite {

struct PplOptions {
  std::string model;
  std::string dataset;
  std::string quant_policy;        // "": the model's (config.ini); else see parse_quant_policy
  bool kv_static = true;           // int8 with past_kv_scale present: static (false: online)
  int64_t max_tokens = 0;          // 0: the whole file
  int window = 0;                  // 0: the model's session_len
  int threads = 0;
  bool exact = false;
  int tp = 1;                      // tensor-parallel ranks (threads share --threads)
  bool progress = true;
};

struct PplResult {
  double ppl = 0;
  double nll_sum = 0;
  int64_t tokens_scored = 0;
  int windows = 0;
  int window = 0;
  std::string kv;  // fp16 | int8 (static) | int8 (online) | int4
};

PplResult run_ppl(const PplOptions& opt);

}  // namespace lmd::lite
