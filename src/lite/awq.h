// `lmdeploy lite auto_awq`: activation-aware 4-bit weight quantisation (AWQ), written as an
// AutoAWQ "gemm" checkpoint (lite/awq_writer.h) that `lmdeploy convert --model-format awq`
// (and other AWQ readers) load.
//
// Smoothing pairs per layer (Llama): attention_norm -> q,k,v; v -> o (only without GQA);
// ffn_norm -> gate,up; up -> down. For each pair, with X the pair's fp input (captured from
// the fp model over the calibration samples) and W the following linears stacked [rows, in]:
//   w_scale[c] = mean over rows of |W[r,c]| / max|W| in (r, c)'s group
//   s = absmean(X)^a / w_scale^(1-a), clamped >= 1e-4, s /= sqrt(max(s) * min(s))
//   loss(a) = mean((X W^T - (X/s) Q(W diag(s))^T)^2)   (Q: group-wise int4 fake quantisation)
// over a in {0, 0.05, ..., 0.95}, plus s = 1 (plain round-to-nearest) so a pair never gets
// worse than RTN on this loss. The best s is folded in exactly (previous norm / linear rows
// divided by s, the linears' columns multiplied by s); then every linear is quantised.
// search_scale = false skips the search: plain round-to-nearest (the "W4 RTN" baseline).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/weights.h"

namespace lmd::lite {

struct AwqOptions {
  std::string model;
  int w_bits = 4;
  int w_group_size = 128;
  bool w_sym = false;
  std::string work_dir = "./work_dir";
  std::string calib_dataset;   // "" = the one `calibrate` recorded in work_dir (else error)
  int calib_samples = 0;       // 0 = as recorded (or 128)
  int calib_seqlen = 0;        // 0 = as recorded (or 2048)
  bool search_scale = true;
  int search_tokens = 512;     // activation rows kept per input for the search
  uint64_t seed = 0;
  int threads = 0;
  bool progress = true;
};

struct AwqPairResult {
  int layer = 0;
  std::string pair;    // "qkv" | "o" | "gate_up" | "down"
  float alpha = -1;    // -1: s = 1 won (or no search)
  double loss_rtn = 0, loss_best = 0;
};

struct AwqResult {
  std::vector<AwqPairResult> pairs;
  ModelWeights quantized;  // int4 linears as written (for tests)
};

// Searches and applies AWQ scales to `w` (fp32 copies of its tensors) given the captured
// inputs, and quantises. inputs[layer][site] = [tokens, dim] rows (site order of
// calib_stats.h: qkv, o, gate_up, down); absmean likewise.
AwqResult awq_quantize(const ModelWeights& w, const std::vector<std::vector<std::vector<float>>>& inputs,
                       const std::vector<std::vector<std::vector<float>>>& absmean, const AwqOptions& opt);

// Throws naming the linear's shape when `group` does not divide its input features.
void check_awq_shapes(const ModelConfig& c, int group, const std::string& model);

AwqResult run_auto_awq(const AwqOptions& opt);

}  // namespace lmd::lite
