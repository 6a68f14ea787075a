// What every backend's begin_step derives from a StepPlan, written once: the attention
// parameters with their defaults resolved, the plan validated against the KV layout, and the
// per-token tables (sequence, position, RoPE cos / sin, logN scale) the position-aware ops
// read. CpuBackend and CudaBackend both call build_step_tables(); the CUDA kernel tests call
// rope_tables() for their references.
#pragma once

#include <cstdint>
#include <vector>

#include "core/kv_layout.h"
#include "core/model_config.h"
#include "core/step_plan.h"

namespace lmd {

// Everything the position-aware ops need besides the plan.
struct AttentionParams {
  int head_num = 0;
  int kv_head_num = 0;
  int head_dim = 0;
  int rot_dim = 0;                    // rotary dims (<= head_dim)
  float rope_theta = 10000.0f;
  RopePairing rope_pairing = RopePairing::kHalfSplit;
  float rope_scaling_factor = 0.0f;   // > 0: dynamic NTK once a sequence exceeds max_position
  int max_position_embeddings = 2048;
  bool use_logn_attn = false;         // q *= log(pos+1)/log(max_position) beyond max_position
  float softmax_scale = 0.0f;         // 0: 1/sqrt(head_dim)
};

// The defaults filled in (rot_dim 0 = head_dim, softmax_scale 0 = 1/sqrt(head_dim)) and
// checked (lmd::Error naming the value): what every backend's begin_step works with.
AttentionParams resolve_attention_params(AttentionParams p);

// cos / sin [n, rot_dim/2] of positions pos[0..n) of one sequence whose length this step is
// `len`: fp32 inv_freq and angle as HF computes them; dynamic NTK (ntk_factor > 0) grows the
// base once len exceeds max_position.
void rope_tables(const int32_t* pos, int n, int rot_dim, double theta, float ntk_factor, int max_position,
                 int64_t len, float* cos_out, float* sin_out);

// Per-token tables of one step (n = plan.tokens.size()).
struct StepTables {
  int half = 0;               // rot_dim / 2
  std::vector<int32_t> seq;   // [n] index into plan.seqs
  std::vector<int32_t> pos;   // [n] position in its sequence
  std::vector<float> cos;     // [n, half]
  std::vector<float> sin;     // [n, half]
  std::vector<float> logn;    // [n] q scale, 1 where logN attention does not apply
  bool has_logn = false;      // some logn != 1
  int max_len = 1;            // longest sequence this step (history + its tokens)
};

// Validates `plan` (every sequence's tokens inside the step, enough blocks in its table for
// its positions, every token owned by exactly one sequence: lmd::Error naming the sequence or
// token otherwise) and fills *out. `p` must be resolved.
void build_step_tables(const StepPlan& plan, const KvLayout& layout, const AttentionParams& p, StepTables* out);

}  // namespace lmd
