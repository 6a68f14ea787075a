// Small device helpers shared by the CUDA kernels: element conversions for the activation
// types (float, __half, __nv_bfloat16), warp reductions, and KvView — the device copy of
// core/kv_layout.h's block layout (KvLayout's methods are host-only).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cuda/shim/cuda_compat.h"
#include "core/kv_layout.h"

namespace lmd::cuda {

LMD_DEVICE float to_float(float x) { return x; }
LMD_DEVICE float to_float(__half x) { return __half2float(x); }
LMD_DEVICE float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }

template <typename T>
LMD_DEVICE T from_float(float x);
template <>
LMD_DEVICE float from_float<float>(float x) {
  return x;
}
template <>
LMD_DEVICE __half from_float<__half>(float x) {
  return __float2half_rn(x);
}
template <>
LMD_DEVICE __nv_bfloat16 from_float<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}

LMD_DEVICE float warp_sum(float v) {
  for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}
LMD_DEVICE float warp_max(float v) {
  for (int off = 16; off > 0; off /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
}
LMD_DEVICE float warp_min(float v) {
  for (int off = 16; off > 0; off /= 2) v = fminf(v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
}

// Warp totals of N values per lane (N = 1, 2, 4, ..., 32) with log2(32) rounds of a
// transposed butterfly: each of the first log2(N) rounds sends half of the values still
// held (the half the partner keeps) and adds what comes back, so N + 4 - log2(N) shuffles
// instead of 5N. On return lane l holds the total of value l / (32 / N); acc is clobbered.
template <int N>
LMD_DEVICE float warp_sum_transposed(float (&acc)[N]) {
  static_assert(N >= 1 && N <= 32 && (N & (N - 1)) == 0, "N must be a power of two <= 32");
  const int lane = threadIdx.x % 32;
  int off = 16;
#pragma unroll
  for (int width = N; width > 1; width /= 2) {
    const bool upper = (lane & off) != 0;
#pragma unroll
    for (int i = 0; i < width / 2; ++i) {
      const float keep = upper ? acc[i + width / 2] : acc[i];
      const float send = upper ? acc[i] : acc[i + width / 2];
      acc[i] = keep + __shfl_xor_sync(0xffffffffu, send, off);
    }
    off /= 2;
  }
  float v = acc[0];
  for (; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

// Block layout of the paged KV cache (see core/kv_layout.h), usable on the device.
struct KvView {
  int num_layer = 0, kv_head_num = 0, head_dim = 0, block_len = 0;
  KvKind kind = KvKind::kF16;
  uint64_t row_bytes = 0, data_bytes = 0, block_bytes = 0;

  static KvView of(const KvLayout& l) {
    KvView v;
    v.num_layer = l.num_layer;
    v.kv_head_num = l.kv_head_num;
    v.head_dim = l.head_dim;
    v.block_len = l.block_len;
    v.kind = l.kind;
    v.row_bytes = l.row_bytes();
    v.data_bytes = l.data_bytes();
    v.block_bytes = l.block_bytes();
    return v;
  }
  LMD_DEVICE uint64_t row_index(int layer, int kv, int head, int slot) const {
    return ((static_cast<uint64_t>(layer) * 2 + kv) * kv_head_num + head) * block_len + slot;
  }
  LMD_DEVICE uint8_t* row(uint8_t* pool, int block, int layer, int kv, int head, int slot) const {
    return pool + block * block_bytes + row_index(layer, kv, head, slot) * row_bytes;
  }
  // (scale, zero) of a quantised row.
  LMD_DEVICE float* params(uint8_t* pool, int block, int layer, int kv, int head, int slot) const {
    return reinterpret_cast<float*>(pool + block * block_bytes + data_bytes +
                                    row_index(layer, kv, head, slot) * 2 * sizeof(float));
  }
};

inline unsigned ceil_div(int64_t a, int64_t b) { return static_cast<unsigned>((a + b - 1) / b); }

}  // namespace lmd::cuda
