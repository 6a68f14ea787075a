// Paged attention for query rows over the KV cache (decode; prefill rows too, each row
// attending to its own prefix), GQA-aware and split-K ("flash decoding"):
//
//   stage 1, grid (kv_head * chunks, row, split), 4 warps: one CTA reads each K/V row of its
//     split once for kGroup (<= 4) of the `head_num / kv_head_num` query heads sharing that
//     KV head (chunks = group / kGroup; 4 keeps the registers of a 128-dim head in check); warp
//     w takes positions begin+w, begin+w+4, ...; each lane holds head_dim/32 contiguous
//     elements; online softmax per head; warps merged through shared memory; writes the
//     unnormalised partial O and (max, sum) per (row, head, split);
//   stage 2, grid (row, head): merges the splits and normalises.
//
// q, out: [rows, head_num, head_dim] fp32. Row r attends positions 0..kv_len[r]-1, found
// through its block table blocks[table_offset[r] + pos / block_len]. kv_len[r] >= 1.
#pragma once

#include <cmath>

#include "kernels/common/kv_quant.h"
#include "kernels/cuda/device_common.cuh"

namespace lmd::cuda {

constexpr int kAttnWarps = 4;

struct AttentionArgs {
  const float* q;
  float* out;
  const int32_t* kv_len;
  const int32_t* table_offset;
  const int32_t* blocks;
  uint8_t* kv_pool;
  KvView kv;
  int layer;
  int rows;
  int head_num;
  float scale;
  int split_len;   // positions per split
  int num_splits;  // ceil(max kv_len / split_len)
  float* part_o;   // [rows, head_num, num_splits, head_dim]
  float* part_ml;  // [rows, head_num, num_splits, 2]
};

// E contiguous elements of one K or V row, starting at element e0, as fp32.
template <int E, KvKind kKind>
LMD_DEVICE void load_kv(const AttentionArgs& a, int block, int kv, int head, int slot, int e0, float* x) {
  const uint8_t* row = a.kv.row(a.kv_pool, block, a.layer, kv, head, slot);
  if (kKind == KvKind::kF32) {
#pragma unroll
    for (int e = 0; e < E; ++e) x[e] = reinterpret_cast<const float*>(row)[e0 + e];
  } else if (kKind == KvKind::kF16) {
#pragma unroll
    for (int e = 0; e < E; ++e) x[e] = __half2float(reinterpret_cast<const __half*>(row)[e0 + e]);
  } else {
    const float* p = a.kv.params(a.kv_pool, block, a.layer, kv, head, slot);
    const float s = p[0], z = p[1];
    if (kKind == KvKind::kInt8) {
#pragma unroll
      for (int e = 0; e < E; ++e) x[e] = kv_dequantize_value(row[e0 + e], s, z);
    } else {
#pragma unroll
      for (int e = 0; e < E; e += 2) {
        const uint8_t b = row[(e0 + e) / 2];
        x[e] = kv_dequantize_value(b & 15, s, z);
        x[e + 1] = kv_dequantize_value(b >> 4, s, z);
      }
    }
  }
}

// kGroup query heads per KV head is a template argument so every register array is
// indexed by constants (no local memory) and the shuffles stay convergent.
template <int kHeadDim, int kGroup, KvKind kKind>
__global__ void __launch_bounds__(32 * kAttnWarps) attention_partial_kernel(AttentionArgs a) {
  constexpr int E = kHeadDim / 32;
  SMEM(float, sm_o, [kAttnWarps][kGroup][kHeadDim]);
  SMEM(float, sm_m, [kAttnWarps][kGroup]);
  SMEM(float, sm_l, [kAttnWarps][kGroup]);
  SMEM(float, sm_q, [kGroup][kHeadDim]);  // read-only: keeps registers for acc
  const int chunks = a.head_num / a.kv.kv_head_num / kGroup;
  const int kvh = blockIdx.x / chunks, r = blockIdx.y, split = blockIdx.z;
  const int head0 = blockIdx.x * kGroup;  // = kvh * group + chunk * kGroup
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int len = a.kv_len[r];
  const int begin = split * a.split_len;
  const int end = min(len, begin + a.split_len);
  const int32_t* table = a.blocks + a.table_offset[r];

  for (int i = threadIdx.x; i < kGroup * kHeadDim; i += blockDim.x) {
    sm_q[i / kHeadDim][i % kHeadDim] = a.q[(static_cast<int64_t>(r) * a.head_num + head0) * kHeadDim + i];
  }
  __syncthreads();
  float acc[kGroup][E], m[kGroup], l[kGroup];
#pragma unroll
  for (int g = 0; g < kGroup; ++g) {
    m[g] = -INFINITY;
    l[g] = 0.0f;
#pragma unroll
    for (int e = 0; e < E; ++e) {
      acc[g][e] = 0.0f;
    }
  }
  for (int p = begin + warp; p < end; p += kAttnWarps) {
    const int block = table[p / a.kv.block_len], slot = p % a.kv.block_len;
    float k[E], v[E];
    load_kv<E, kKind>(a, block, 0, kvh, slot, lane * E, k);
    load_kv<E, kKind>(a, block, 1, kvh, slot, lane * E, v);
#pragma unroll
    for (int g = 0; g < kGroup; ++g) {
      float s = 0.0f;
#pragma unroll
      for (int e = 0; e < E; ++e) s += sm_q[g][lane * E + e] * k[e];
      s = warp_sum(s) * a.scale;
      const float m_new = fmaxf(m[g], s);
      const float c = expf(m[g] - m_new);
      const float w = expf(s - m_new);
      l[g] = l[g] * c + w;
#pragma unroll
      for (int e = 0; e < E; ++e) acc[g][e] = acc[g][e] * c + w * v[e];
      m[g] = m_new;
    }
  }
#pragma unroll
  for (int g = 0; g < kGroup; ++g) {
#pragma unroll
    for (int e = 0; e < E; ++e) sm_o[warp][g][lane * E + e] = acc[g][e];
    if (lane == 0) {
      sm_m[warp][g] = m[g];
      sm_l[warp][g] = l[g];
    }
  }
  __syncthreads();
  for (int i = threadIdx.x; i < kGroup * kHeadDim; i += blockDim.x) {
    const int g = i / kHeadDim, d = i % kHeadDim;
    float big = -INFINITY;
    for (int w = 0; w < kAttnWarps; ++w) big = fmaxf(big, sm_m[w][g]);
    float o = 0.0f, sum = 0.0f;
    if (big != -INFINITY) {
      for (int w = 0; w < kAttnWarps; ++w) {
        if (sm_m[w][g] == -INFINITY) continue;
        const float c = expf(sm_m[w][g] - big);
        o += sm_o[w][g][d] * c;
        sum += sm_l[w][g] * c;
      }
    }
    const int64_t part = (static_cast<int64_t>(r) * a.head_num + head0 + g) * a.num_splits + split;
    a.part_o[part * kHeadDim + d] = o;
    if (d == 0) {
      a.part_ml[2 * part] = big;
      a.part_ml[2 * part + 1] = sum;
    }
  }
}

// grid (rows, head_num), block head_dim threads.
__global__ void attention_reduce_kernel(const float* part_o, const float* part_ml, int head_num, int num_splits,
                                        int head_dim, float* out) {
  const int64_t rh = static_cast<int64_t>(blockIdx.x) * head_num + blockIdx.y;
  const float* ml = part_ml + rh * num_splits * 2;
  float big = -INFINITY;
  for (int s = 0; s < num_splits; ++s) big = fmaxf(big, ml[2 * s]);
  float o = 0.0f, sum = 0.0f;
  for (int s = 0; s < num_splits; ++s) {
    if (ml[2 * s] == -INFINITY) continue;
    const float c = expf(ml[2 * s] - big);
    o += part_o[(rh * num_splits + s) * head_dim + threadIdx.x] * c;
    sum += ml[2 * s + 1] * c;
  }
  out[rh * head_dim + threadIdx.x] = o / sum;
}

template <int kHeadDim, int kGroup>
void attention_partial(const AttentionArgs& a) {
  const dim3 grid(a.head_num / kGroup, a.rows, a.num_splits);
  switch (a.kv.kind) {
    case KvKind::kF32: launch(attention_partial_kernel<kHeadDim, kGroup, KvKind::kF32>, grid, 32 * kAttnWarps, 0, a); break;
    case KvKind::kF16: launch(attention_partial_kernel<kHeadDim, kGroup, KvKind::kF16>, grid, 32 * kAttnWarps, 0, a); break;
    case KvKind::kInt8: launch(attention_partial_kernel<kHeadDim, kGroup, KvKind::kInt8>, grid, 32 * kAttnWarps, 0, a); break;
    case KvKind::kInt4: launch(attention_partial_kernel<kHeadDim, kGroup, KvKind::kInt4>, grid, 32 * kAttnWarps, 0, a); break;
  }
}

template <int kHeadDim>
void attention_partial(const AttentionArgs& a, int group) {
  if (group % 4 == 0) {
    attention_partial<kHeadDim, 4>(a);
  } else if (group % 3 == 0) {
    attention_partial<kHeadDim, 3>(a);
  } else if (group % 2 == 0) {
    attention_partial<kHeadDim, 2>(a);
  } else {
    attention_partial<kHeadDim, 1>(a);
  }
}

// The one dtype / shape dispatch point. part_o / part_ml sized for a.num_splits.
inline void decode_attention(const AttentionArgs& a) {
  const int group = a.head_num / a.kv.kv_head_num;
  LMD_CHECK(a.head_num % a.kv.kv_head_num == 0)
      << "attention: head_num " << a.head_num << " is not a multiple of kv_head_num " << a.kv.kv_head_num;
  LMD_CHECK(a.split_len > 0 && a.num_splits > 0) << "attention: split_len " << a.split_len;
  if (a.rows == 0) return;
  switch (a.kv.head_dim) {
    case 64: attention_partial<64>(a, group); break;
    case 128: attention_partial<128>(a, group); break;
    default: LMD_FAIL() << "attention: head_dim " << a.kv.head_dim << " unsupported (64 or 128)";
  }
  launch(attention_reduce_kernel, dim3(a.rows, a.head_num), a.kv.head_dim, 0, a.part_o, a.part_ml, a.head_num,
         a.num_splits, a.kv.head_dim, a.out);
}

}  // namespace lmd::cuda
