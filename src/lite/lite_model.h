// The model as `lmdeploy lite` drives it: loaded from any model path the engine takes,
// run directly over StepPlans (no engine, no sampling) with a KV pool sized for the job.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/kv_layout.h"
#include "model/llama.h"
#include "tokenizer/tokenizer.h"

namespace lmd::lite {

struct LiteModelOptions {
  KvKind kv_kind = KvKind::kF16;
  bool kv_static = true;       // int8: use past_kv_scale when the workspace has it
  int max_tokens = 2048;       // tokens held in the KV pool at once (all sequences of a step)
  int threads = 0;
  bool exact = false;          // fp32 activations in every linear
};

struct LiteModel {
  std::unique_ptr<LlamaModel> model;
  std::unique_ptr<Tokenizer> tokenizer;
  ModelConfig config;
};

LiteModel open_lite_model(const std::string& path, const LiteModelOptions& opt);
// The same from weights already in memory (auto_awq's fake-quantised model, tests).
std::unique_ptr<LlamaModel> make_lite_model(const ModelWeights& w, const LiteModelOptions& opt);

// -log p(ids[t+1] | ids[0..t]) for t = 0 .. ids.size()-2, and the argmax token at each t.
// `chunk` positions per step: each is its own one-token StepSequence over one shared block
// table, so a step writes all its K/V before any attention reads them (all positions' logits
// at prefill cost).
struct TokenScores {
  std::vector<double> nll;
  std::vector<int32_t> argmax;
};
TokenScores score_tokens(LlamaModel& model, const std::vector<int32_t>& ids, int chunk = 256);

// Prefills each sequence (no logits) — for observers. Several sequences per step while
// they fit in the pool.
void prefill(LlamaModel& model, const std::vector<std::vector<int32_t>>& seqs);

// Parses a quant policy as users write it (core/quant_policy.h): "0" / "fp16", "4" / "8" /
// "int8" (int8 KV: the seed's 4 and newer lmdeploy's 8), "16" / "int4" (online int4 KV);
// "" is fp16. Throws on anything else.
KvKind parse_quant_policy(const std::string& s);
const char* kv_kind_label(KvKind k);

}  // namespace lmd::lite
