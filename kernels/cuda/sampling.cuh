// Sampling on the device, one block per row of logits [batch, vocab] (fp32), with the host
// sampler's rule and arithmetic (src/sampling/sampler.cc, lmdeploy's order):
//   1. penalties: repetition (l > 0 ? l / r : l * r) on tokens with seen[t] > 0 (prompt +
//      generated), then l -= presence + frequency * generated[t] on generated tokens;
//   2. bans: the row's ban list (eos / stop ids before min_new_tokens, ignore_eos) -> -inf;
//   3. temperature == 0 or top_k == 1: arg-max (lowest id on ties), done;
//   4. s = l * (1 / temperature) over the candidates (banned tokens are not candidates; none
//      left: token 0);
//   5. order: top_k in (0, candidates): the k best by (s desc, id asc) — k block arg-max
//      rounds, k <= kSampleMaxK; else if top_k > 0 or top_p < 1: all candidates in that order
//      (rounds until the cumulative probability reaches top_p); else token order (no sort);
//   6. p = float(expf(s - max) / sum) with the sum in double over the candidates (the k best
//      in top-k mode); top-p keeps the shortest prefix with cumulative p >= top_p; min-p drops
//      p < min_p * p_max;
//   7. draw: u = uniform[b] * kept mass (double); the first kept token (in the order of 5)
//      whose cumulative p exceeds u, else the last kept one.
// Where the host sums sequentially the kernel may reduce in another order (double sums),
// so a draw can differ from the host's only when u is within ~1e-16 of a boundary. On a GPU
// expf differs from glibc's by <= 2 ulp and the double quotients (div_rn) by <= 1 ulp; under
// the shim both are the host's and the tokens are equal.
// A row that needs more than kSampleMaxK sorted candidates (top_k > kSampleMaxK, or top-p
// mass spread over more tokens) gets out[b] = -1: the caller samples it on the host.
#pragma once

#include <cmath>

#include "core/error.h"
#include "kernels/cuda/device_common.cuh"
#include "core/sampling_params.h"

namespace lmd::cuda {

constexpr int kSampleThreads = 256;
constexpr int kSampleMaxK = 1024;

using SampleParams = ::lmd::SamplingParams;  // src/core/sampling_params.h

struct SampleArgs {
  const float* logits;         // [batch, vocab]
  int vocab;
  const SampleParams* params;  // [batch]
  const int32_t* seen;         // [batch, vocab] prompt + generated token counts, or null
  const int32_t* generated;    // [batch, vocab] generated token counts, or null
  const int32_t* ban_offsets;  // [batch + 1] into bans, or null
  const int32_t* bans;         // banned token ids (out-of-range ids ignored)
  const double* uniform;       // [batch] in [0, 1)
  float* work;                 // [batch, vocab] scratch
  int32_t* out;                // [batch] token, or -1 (see the header)
  float* probs;                // [batch, vocab] or null: the distribution drawn from
};

LMD_DEVICE bool ranks_before(float v, int i, float w, int j) { return v > w || (v == w && i < j); }

// a * b rounded once: no FMA contraction with a following add (the host does not fuse).
LMD_DEVICE float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

struct Best {
  float v;
  int i;
};

// One block arg-max over w [V] among entries ranking after (prev_v, prev_i); `cand`: only
// candidates (> -inf). Every thread gets the result. red_v / red_i: [warps] shared.
LMD_DEVICE Best block_best(const float* w, int V, float prev_v, int prev_i, bool cand, float* red_v, int* red_i) {
  const int tid = threadIdx.x, nt = blockDim.x;
  float best_v = -INFINITY;
  int best_i = V;  // sentinel: ranks after every real entry of equal value
  for (int i = tid; i < V; i += nt) {
    const float v = w[i];
    if (cand && !(v > -INFINITY)) continue;
    if (ranks_before(prev_v, prev_i, v, i) && ranks_before(v, i, best_v, best_i)) {
      best_v = v;
      best_i = i;
    }
  }
  for (int off = 16; off > 0; off /= 2) {
    const float ov = __shfl_xor_sync(0xffffffffu, best_v, off);
    const int oi = __shfl_xor_sync(0xffffffffu, best_i, off);
    if (ranks_before(ov, oi, best_v, best_i)) {
      best_v = ov;
      best_i = oi;
    }
  }
  if (tid % 32 == 0) {
    red_v[tid / 32] = best_v;
    red_i[tid / 32] = best_i;
  }
  __syncthreads();
  best_v = red_v[0];
  best_i = red_i[0];
  for (int k = 1; k < nt / 32; ++k) {
    if (ranks_before(red_v[k], red_i[k], best_v, best_i)) {
      best_v = red_v[k];
      best_i = red_i[k];
    }
  }
  __syncthreads();  // red_* are rewritten by the next call
  return Best{best_v, best_i};
}

// Sum of per-thread doubles in thread order (deterministic), broadcast. red: [blockDim].
LMD_DEVICE double block_sum(double v, double* red, double* result) {
  const int tid = threadIdx.x;
  red[tid] = v;
  __syncthreads();
  if (tid == 0) {
    double s = 0.0;
    for (int k = 0; k < static_cast<int>(blockDim.x); ++k) s += red[k];
    *result = s;
  }
  __syncthreads();
  const double s = *result;
  __syncthreads();
  return s;
}

// a / b for the positive normal doubles of this kernel. On the device without div.rn.f64,
// whose slow-path subroutine call spills registers (an error in this build): a float
// reciprocal refined by two Newton steps, then one residual correction (Markstein) — the
// IEEE quotient except, at worst, a 1-ulp double difference that the float probabilities
// built from it cannot see. Under the shim: the plain division.
LMD_DEVICE double div_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
  double r = static_cast<double>(__fdividef(1.0f, static_cast<float>(b)));
  r = fma(r, fma(-b, r, 1.0), r);
  r = fma(r, fma(-b, r, 1.0), r);
  const double q = a * r;
  return fma(fma(-b, q, a), r, q);
#else
  return a / b;
#endif
}

// Templates (instantiated for one thread count / one flag) so that every translation unit
// including this header gets their host stubs as weak symbols: the CUDA backend
// (src/backend/cuda/cuda_backend.cu) and the kernel tests both include it.
template <int kThreads>
__global__ void __launch_bounds__(kThreads) sample_kernel(SampleArgs a) {
  SMEM(float, top_v, [kSampleMaxK]);  // selected scaled logits, then their p
  SMEM(int, top_i, [kSampleMaxK]);
  SMEM(float, red_v, [kThreads / 32]);
  SMEM(int, red_i, [kThreads / 32]);
  SMEM(double, red_d, [kThreads]);
  SMEM(int, red_n, [kThreads]);
  SMEM(double, shared_d, [2]);
  SMEM(int, shared_n, [2]);
  const int b = blockIdx.x, tid = threadIdx.x, nt = blockDim.x, V = a.vocab;
  const SampleParams P = a.params[b];
  const float* row = a.logits + static_cast<int64_t>(b) * V;
  float* w = a.work + static_cast<int64_t>(b) * V;
  float* probs = a.probs ? a.probs + static_cast<int64_t>(b) * V : nullptr;
  const int32_t* seen = a.seen ? a.seen + static_cast<int64_t>(b) * V : nullptr;
  const int32_t* gen = a.generated ? a.generated + static_cast<int64_t>(b) * V : nullptr;

  // 1-2. penalties and bans -> w
  for (int t = tid; t < V; t += nt) {
    float x = row[t];
    if (seen && P.repetition_penalty != 1.0f && seen[t] > 0)
      x = x > 0.0f ? x / P.repetition_penalty : x * P.repetition_penalty;
    if (gen && (P.presence_penalty != 0.0f || P.frequency_penalty != 0.0f) && gen[t] > 0)
      x -= P.presence_penalty + mul_rn(P.frequency_penalty, static_cast<float>(gen[t]));
    w[t] = x;
    if (probs) probs[t] = 0.0f;
  }
  __syncthreads();
  if (a.ban_offsets) {
    for (int j = a.ban_offsets[b] + tid; j < a.ban_offsets[b + 1]; j += nt) {
      const int t = a.bans[j];
      if (t >= 0 && t < V) w[t] = -INFINITY;
    }
  }
  __syncthreads();

  // 3. greedy
  if (P.temperature == 0.0f || P.top_k == 1) {
    const int i = block_best(w, V, INFINITY, -1, false, red_v, red_i).i;
    if (tid == 0) {
      a.out[b] = i < V ? i : 0;
      if (probs) probs[i < V ? i : 0] = 1.0f;
    }
    return;
  }

  // 4. scale; count candidates
  const float inv_t = 1.0f / P.temperature;
  int n_local = 0;
  for (int t = tid; t < V; t += nt) {
    const float x = w[t];
    if (x > -INFINITY) {
      w[t] = x * inv_t;
      ++n_local;
    }
  }
  red_n[tid] = n_local;
  __syncthreads();
  if (tid == 0) {
    int n = 0;
    for (int k = 0; k < nt; ++k) n += red_n[k];
    shared_n[0] = n;
  }
  __syncthreads();
  const int n_cand = shared_n[0];
  if (n_cand == 0) {
    if (tid == 0) {
      a.out[b] = 0;
      if (probs) probs[0] = 1.0f;
    }
    return;
  }
  const float max_s = block_best(w, V, INFINITY, -1, true, red_v, red_i).v;

  const bool topk_mode = P.top_k > 0 && P.top_k < n_cand;
  const bool sorted = topk_mode || P.top_k > 0 || P.top_p < 1.0f;

  if (!sorted) {
    // 6-7 in token order. p_max = float(expf(0) / sum).
    double e_local = 0.0;
    for (int t = tid; t < V; t += nt)
      if (w[t] > -INFINITY) e_local += static_cast<double>(expf(w[t] - max_s));
    const double sum = block_sum(e_local, red_d, &shared_d[0]);
    const double p_max = static_cast<float>(div_rn(1.0, sum));
    const double thr = P.min_p > 0.0f ? static_cast<double>(P.min_p) * p_max : -1.0;
    // Contiguous chunks so the walk is in token order.
    const int chunk = (V + nt - 1) / nt;
    const int t0 = min(V, tid * chunk), t1 = min(V, t0 + chunk);
    double kept_local = 0.0;
    for (int t = t0; t < t1; ++t) {
      if (!(w[t] > -INFINITY)) continue;
      const float p = static_cast<float>(div_rn(static_cast<double>(expf(w[t] - max_s)), sum));
      if (p < thr) continue;
      kept_local += p;
    }
    red_d[tid] = kept_local;
    __syncthreads();
    if (tid == 0) {
      double s = 0.0;
      for (int k = 0; k < nt; ++k) {
        const double x = red_d[k];
        red_d[k] = s;  // exclusive prefix
        s += x;
      }
      shared_d[1] = s;
    }
    __syncthreads();
    const double kept_sum = shared_d[1];
    const double u = a.uniform[b] * kept_sum;
    double cum = red_d[tid];
    int pick = V, last = -1;
    for (int t = t0; t < t1; ++t) {
      if (!(w[t] > -INFINITY)) continue;
      const float p = static_cast<float>(div_rn(static_cast<double>(expf(w[t] - max_s)), sum));
      if (p < thr) continue;
      last = t;
      if (probs) probs[t] = static_cast<float>(div_rn(p, kept_sum));
      cum += p;
      if (pick == V && u < cum) pick = t;
    }
    __syncthreads();
    red_n[tid] = pick;
    red_d[tid] = static_cast<double>(last);
    __syncthreads();
    if (tid == 0) {
      int first = V, lastk = -1;
      for (int k = 0; k < nt; ++k) {
        first = min(first, red_n[k]);
        lastk = max(lastk, static_cast<int>(red_d[k]));
      }
      a.out[b] = first < V ? first : lastk;
    }
    return;
  }

  // 5. sorted candidates: rounds of block arg-max.
  double sum_all = 0.0;
  if (!topk_mode) {
    double e_local = 0.0;
    for (int t = tid; t < V; t += nt)
      if (w[t] > -INFINITY) e_local += static_cast<double>(expf(w[t] - max_s));
    sum_all = block_sum(e_local, red_d, &shared_d[0]);
  } else if (P.top_k > kSampleMaxK) {
    if (tid == 0) a.out[b] = -1;
    return;
  }
  const int limit = topk_mode ? P.top_k : min(n_cand, kSampleMaxK);
  float prev_v = INFINITY;
  int prev_i = -1;
  int n_sel = 0;
  double cum_p = 0.0;
  bool done = false;
  while (!done && n_sel < limit) {
    const Best sel = block_best(w, V, prev_v, prev_i, true, red_v, red_i);
    const float v = sel.v;
    const int i = sel.i;
    prev_v = v;
    prev_i = i;
    if (tid == 0) {
      top_v[n_sel] = v;
      top_i[n_sel] = i;
      if (!topk_mode) {  // p over every candidate; stop once top-p is reached
        const float p = static_cast<float>(div_rn(static_cast<double>(expf(v - max_s)), sum_all));
        top_v[n_sel] = p;
        cum_p += p;
        shared_n[1] = (P.top_p < 1.0f && cum_p >= P.top_p) || n_sel + 1 == n_cand;
      }
    }
    ++n_sel;
    __syncthreads();
    done = !topk_mode && shared_n[1] != 0;
    __syncthreads();
  }
  if (tid != 0) return;
  if (!topk_mode && !done) {  // the top-p prefix is longer than kSampleMaxK
    a.out[b] = -1;
    return;
  }
  if (topk_mode) {
    const float best = top_v[0];
    double sum = 0.0;
    for (int j = 0; j < n_sel; ++j) {
      top_v[j] = expf(top_v[j] - best);
      sum += top_v[j];
    }
    for (int j = 0; j < n_sel; ++j) top_v[j] = static_cast<float>(div_rn(top_v[j], sum));
  }
  int keep = n_sel;
  if (topk_mode && P.top_p < 1.0f) {
    double cum = 0.0;
    for (int j = 0; j < n_sel; ++j) {
      cum += top_v[j];
      if (cum >= P.top_p) {
        keep = j + 1;
        break;
      }
    }
  }
  const double p_max = top_v[0];
  const double thr = P.min_p > 0.0f ? static_cast<double>(P.min_p) * p_max : -1.0;
  double kept_sum = 0.0;
  for (int j = 0; j < keep; ++j)
    if (!(top_v[j] < thr)) kept_sum += top_v[j];
  const double u = a.uniform[b] * kept_sum;
  double cum = 0.0;
  int token = -1, last = top_i[0];
  for (int j = 0; j < keep; ++j) {
    if (top_v[j] < thr) continue;
    last = top_i[j];
    if (probs) probs[top_i[j]] = static_cast<float>(div_rn(top_v[j], kept_sum));
    cum += top_v[j];
    if (token < 0 && u < cum) token = top_i[j];
  }
  a.out[b] = token >= 0 ? token : last;
}

inline void sample(const SampleArgs& a, int batch) {
  LMD_CHECK(a.vocab > 0 && a.params && a.uniform && a.work && a.out)
      << "sample: vocab " << a.vocab << " and params / uniform / work / out are required";
  if (batch == 0) return;
  launch(sample_kernel<kSampleThreads>, batch, kSampleThreads, 0, a);
}

// Penalty counts from sparse lists into the dense [batch, vocab] arrays of SampleArgs (seen /
// generated), which stay zero between steps: scatter the step's counts, sample, scatter
// zeros at the same places. Ids outside [0, vocab) are skipped (the host sampler ignores them).
struct RowTokenCount {
  int32_t row;
  int32_t token;
  int32_t count;
};

template <bool kClear>
__global__ void scatter_counts_kernel(const RowTokenCount* entries, int n, int vocab, int32_t* dense) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i >= n) return;
  const RowTokenCount c = entries[i];
  if (c.token < 0 || c.token >= vocab) return;
  dense[static_cast<int64_t>(c.row) * vocab + c.token] = kClear ? 0 : c.count;
}

// entries: device [n]; clear: write 0 instead of the counts.
inline void scatter_counts(const RowTokenCount* entries, int n, int vocab, int32_t* dense, bool clear) {
  LMD_CHECK(n >= 0 && vocab > 0 && (n == 0 || (entries && dense)))
      << "scatter_counts: " << n << " entries, vocab " << vocab;
  if (n == 0) return;
  constexpr int kThreads = 256;
  const int blocks = (n + kThreads - 1) / kThreads;
  if (clear) {
    launch(scatter_counts_kernel<true>, blocks, kThreads, 0, entries, n, vocab, dense);
  } else {
    launch(scatter_counts_kernel<false>, blocks, kThreads, 0, entries, n, vocab, dense);
  }
}

}  // namespace lmd::cuda
