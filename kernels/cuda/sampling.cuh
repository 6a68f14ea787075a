// Top-k / top-p sampling, one block per row of logits [batch, vocab] (fp32):
//   1. top-k by k rounds of a block arg-max, each round taking the best candidate strictly
//      below the previous one in the order (logit desc, index asc) — no selected-set needed;
//      k = top_k[b] (0 means kSampleMaxK), capped at kSampleMaxK and vocab;
//   2. thread 0: p_j = exp((l_j - l_0) / temperature) over the sorted candidates; keep the
//      shortest prefix whose mass reaches top_p * total (at least one); draw with uniform[b]
//      in [0, 1): the first j with cumulative mass > u * kept mass.
// temperature <= 0 or k == 1 is greedy. Ties resolve to the lowest token id.
#pragma once

#include <cmath>

#include "kernels/cuda/device_common.cuh"

namespace lmd::cuda {

constexpr int kSampleThreads = 256;
constexpr int kSampleMaxK = 1024;

struct SampleArgs {
  const float* logits;
  int vocab;
  const float* temperature;  // [batch]
  const int32_t* top_k;      // [batch]
  const float* top_p;        // [batch]
  const float* uniform;      // [batch]
  int32_t* out;              // [batch]
};

LMD_DEVICE bool ranks_before(float v, int i, float w, int j) { return v > w || (v == w && i < j); }

__global__ void __launch_bounds__(kSampleThreads) sample_kernel(SampleArgs a) {
  SMEM(float, top_v, [kSampleMaxK]);
  SMEM(int, top_i, [kSampleMaxK]);
  SMEM(float, red_v, [kSampleThreads / 32]);
  SMEM(int, red_i, [kSampleThreads / 32]);
  const int b = blockIdx.x;
  const float* row = a.logits + static_cast<int64_t>(b) * a.vocab;
  int k = a.top_k[b] > 0 ? a.top_k[b] : kSampleMaxK;
  k = min(min(k, kSampleMaxK), a.vocab);
  if (a.temperature[b] <= 0.0f) k = 1;
  float prev_v = INFINITY;
  int prev_i = -1;
  for (int round = 0; round < k; ++round) {
    float best_v = -INFINITY;
    int best_i = a.vocab;  // sentinel: ranks after every real candidate of equal value
    for (int i = threadIdx.x; i < a.vocab; i += blockDim.x) {
      const float v = row[i];
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
    if (threadIdx.x % 32 == 0) {
      red_v[threadIdx.x / 32] = best_v;
      red_i[threadIdx.x / 32] = best_i;
    }
    __syncthreads();
    best_v = red_v[0];
    best_i = red_i[0];
    for (int w = 1; w < kSampleThreads / 32; ++w) {
      if (ranks_before(red_v[w], red_i[w], best_v, best_i)) {
        best_v = red_v[w];
        best_i = red_i[w];
      }
    }
    if (threadIdx.x == 0) {
      top_v[round] = best_v;
      top_i[round] = best_i;
    }
    prev_v = best_v;
    prev_i = best_i;
    __syncthreads();  // red_* are rewritten next round
  }
  if (threadIdx.x != 0) return;
  if (k == 1) {
    a.out[b] = top_i[0];
    return;
  }
  const float inv_t = 1.0f / a.temperature[b];
  const float best = top_v[0];
  float total = 0.0f;
  for (int j = 0; j < k; ++j) {
    top_v[j] = expf((top_v[j] - best) * inv_t);
    total += top_v[j];
  }
  float kept = 0.0f;
  int n_keep = 0;
  const float target = a.top_p[b] * total;
  while (n_keep < k) {
    kept += top_v[n_keep++];
    if (kept >= target) break;
  }
  const float r = a.uniform[b] * kept;
  float cum = 0.0f;
  int pick = n_keep - 1;
  for (int j = 0; j < n_keep; ++j) {
    cum += top_v[j];
    if (cum > r) {
      pick = j;
      break;
    }
  }
  a.out[b] = top_i[pick];
}

inline void sample(const SampleArgs& a, int batch) {
  if (batch == 0) return;
  launch(sample_kernel, batch, kSampleThreads, 0, a);
}

}  // namespace lmd::cuda
