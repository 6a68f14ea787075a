#include "core/step_tables.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace lmd {

AttentionParams resolve_attention_params(AttentionParams p) {
  if (p.rot_dim <= 0) p.rot_dim = p.head_dim;
  if (p.softmax_scale <= 0.0f) p.softmax_scale = 1.0f / std::sqrt(static_cast<float>(p.head_dim));
  LMD_CHECK(p.rot_dim % 2 == 0 && p.rot_dim <= p.head_dim)
      << "rotary_embedding " << p.rot_dim << " must be even and <= head dim " << p.head_dim;
  return p;
}

void rope_tables(const int32_t* pos, int n, int rot_dim, double theta, float ntk_factor, int max_position,
                 int64_t len, float* cos_out, float* sin_out) {
  double base = theta;
  if (ntk_factor > 0.0f && len > max_position) {
    const double f = ntk_factor;
    base *= std::pow(f * static_cast<double>(len) / max_position - (f - 1.0),
                     static_cast<double>(rot_dim) / (rot_dim - 2));
  }
  const int half = rot_dim / 2;
  for (int t = 0; t < n; ++t) {
    for (int j = 0; j < half; ++j) {
      const float inv_freq = static_cast<float>(1.0 / std::pow(base, 2.0 * j / rot_dim));
      const float angle = static_cast<float>(pos[t]) * inv_freq;
      cos_out[static_cast<int64_t>(t) * half + j] = static_cast<float>(std::cos(static_cast<double>(angle)));
      sin_out[static_cast<int64_t>(t) * half + j] = static_cast<float>(std::sin(static_cast<double>(angle)));
    }
  }
}

void build_step_tables(const StepPlan& plan, const KvLayout& layout, const AttentionParams& p, StepTables* out) {
  const int n = static_cast<int>(plan.tokens.size());
  StepTables& st = *out;
  st.half = p.rot_dim / 2;
  st.seq.assign(n, -1);
  st.pos.assign(n, 0);
  st.cos.assign(static_cast<size_t>(n) * st.half, 0.0f);
  st.sin.assign(static_cast<size_t>(n) * st.half, 0.0f);
  st.logn.assign(n, 1.0f);
  st.has_logn = false;
  st.max_len = 1;
  for (size_t si = 0; si < plan.seqs.size(); ++si) {
    const StepSequence& s = plan.seqs[si];
    LMD_CHECK(s.token_offset >= 0 && s.n_tokens >= 0 && s.token_offset + s.n_tokens <= n)
        << "step plan: sequence " << s.seq_id << " tokens [" << s.token_offset << ", +" << s.n_tokens
        << ") outside the step's " << n << " tokens";
    const int64_t len = static_cast<int64_t>(s.history_len) + s.n_tokens;
    LMD_CHECK(static_cast<int64_t>(s.block_table.size()) * layout.block_len >= len)
        << "step plan: sequence " << s.seq_id << " has " << s.block_table.size() << " blocks for " << len
        << " positions (block_len " << layout.block_len << ")";
    for (int i = 0; i < s.n_tokens; ++i) {
      const int t = s.token_offset + i;
      const int pos = s.history_len + i;
      LMD_CHECK(st.seq[t] < 0) << "step plan: token " << t << " belongs to sequences " << plan.seqs[st.seq[t]].seq_id
                               << " and " << s.seq_id;
      st.seq[t] = static_cast<int32_t>(si);
      st.pos[t] = pos;
      st.max_len = std::max(st.max_len, pos + 1);
      if (p.use_logn_attn && pos + 1 > p.max_position_embeddings) {
        st.logn[t] = static_cast<float>(std::log(pos + 1.0) / std::log(static_cast<double>(p.max_position_embeddings)));
        st.has_logn = true;
      }
    }
    if (s.n_tokens > 0)
      rope_tables(st.pos.data() + s.token_offset, s.n_tokens, p.rot_dim, p.rope_theta, p.rope_scaling_factor,
                  p.max_position_embeddings, len, st.cos.data() + static_cast<size_t>(s.token_offset) * st.half,
                  st.sin.data() + static_cast<size_t>(s.token_offset) * st.half);
  }
  for (int t = 0; t < n; ++t) LMD_CHECK(st.seq[t] >= 0) << "step plan: token " << t << " belongs to no sequence";
}

}  // namespace lmd
