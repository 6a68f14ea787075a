// RoPE + KV append, fused as in TurboMind: one warp per (token, head row).
//   q: [n, head_num, head_dim] rotated in place and multiplied by logn[t];
//   k: [n, kv_head_num, head_dim] rotated in place, then K and V rows written to the
//      token's KV slot (block kv_block[t], slot kv_slot[t]) in the layout's kind; int8 /
//      int4 quantised online per (token, head) exactly as kernels/common/kv_quant.h;
//      or, with kv_static (lmdeploy kv_qparams, int8 only), with the layer's static
//      (scale, zp): code = kv_quantize_static_int8(x, scale, zp) + 128 stored unsigned, row
//      params (scale, zp - 128 scale) — the bytes llama.cc's host path writes.
// cos/sin: [n, rot_dim/2] per token, host-built by rope_tables() (src/core/step_tables.h,
// which also applies dynamic NTK). Pairing: half-split (x_j, x_{j+rot/2}) or adjacent
// (x_{2j}, x_{2j+1}).
#pragma once

#include "kernels/common/half.h"
#include "kernels/common/kv_quant.h"
#include "kernels/cuda/device_common.cuh"

namespace lmd::cuda {

constexpr int kMaxHeadDim = 256;
constexpr int kRopeWarps = 4;  // head rows per block

struct RopeKvArgs {
  float* q;
  float* k;
  const float* v;
  const float* cos;
  const float* sin;
  const float* logn;  // [n] or null
  const int32_t* kv_block;
  const int32_t* kv_slot;
  uint8_t* kv_pool;
  KvView kv;
  int layer;
  int n;
  int head_num;
  int rot_dim;
  bool adjacent;
  // Static int8 KV or null: [num_layer][2 (K, V)][4] = (scale, zp, zp - 128 * scale, unused),
  // the stored zero computed on the host (CudaBackend::set_kv_static_params) so no device
  // FMA contraction can change it.
  const float* kv_static = nullptr;
};

// Rotates the row in shared memory x [head_dim]; pairs are split over the lanes.
LMD_DEVICE void rope_row(float* x, const float* cs, const float* sn, int rot_dim, bool adjacent) {
  const int half = rot_dim / 2;
  for (int j = threadIdx.x % 32; j < half; j += 32) {
    const int i0 = adjacent ? 2 * j : j;
    const int i1 = adjacent ? 2 * j + 1 : j + half;
    const float a = x[i0], b = x[i1];
    x[i0] = a * cs[j] - b * sn[j];
    x[i1] = b * cs[j] + a * sn[j];
  }
}

// Writes x [head_dim] (shared) to a KV row; the whole warp takes part. `stat`: this
// (layer, K/V)'s static int8 parameters (see RopeKvArgs::kv_static) or null (online).
LMD_DEVICE void store_kv_row(const float* x, const KvView& kv, uint8_t* dst, float* par, const float* stat) {
  const int lane = threadIdx.x % 32;
  const int d = kv.head_dim;
  if (stat) {
    const float scale = stat[0], zp = stat[1];
    for (int i = lane; i < d; i += 32) dst[i] = static_cast<uint8_t>(kv_quantize_static_int8(x[i], scale, zp) + 128);
    if (lane == 0) {
      par[0] = scale;
      par[1] = stat[2];
    }
    return;
  }
  if (kv.kind == KvKind::kF32) {
    for (int i = lane; i < d; i += 32) reinterpret_cast<float*>(dst)[i] = x[i];
    return;
  }
  if (kv.kind == KvKind::kF16) {
    for (int i = lane; i < d; i += 32) reinterpret_cast<uint16_t*>(dst)[i] = f32_to_fp16(x[i]);
    return;
  }
  float lo = x[0], hi = x[0];
  for (int i = lane; i < d; i += 32) {
    lo = fminf(lo, x[i]);
    hi = fmaxf(hi, x[i]);
  }
  lo = warp_min(lo);
  hi = warp_max(hi);
  const int bits = kv.kind == KvKind::kInt8 ? 8 : 4;
  const float scale = (hi - lo) / static_cast<float>(kv_qmax(bits));
  const float inv = kv_inv_scale(scale);
  if (bits == 8) {
    for (int i = lane; i < d; i += 32) dst[i] = static_cast<uint8_t>(kv_quantize_value(x[i], lo, inv, 255));
  } else {
    for (int i = lane; i < d / 2; i += 32) {
      const int q0 = kv_quantize_value(x[2 * i], lo, inv, 15);
      const int q1 = kv_quantize_value(x[2 * i + 1], lo, inv, 15);
      dst[i] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
  if (lane == 0) {
    par[0] = scale;
    par[1] = lo;
  }
}

// grid: (n, ceil((head_num + kv_head_num) / kRopeWarps)), block: 32 * kRopeWarps.
__global__ void __launch_bounds__(32 * kRopeWarps) rope_kv_write_kernel(RopeKvArgs a) {
  SMEM(float, rows, [kRopeWarps][kMaxHeadDim]);
  const int t = blockIdx.x;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int h = blockIdx.y * kRopeWarps + warp;
  const int kvh = a.kv.kv_head_num;
  if (h >= a.head_num + kvh) return;  // whole warps only: no barrier below
  const int d = a.kv.head_dim;
  const int half = a.rot_dim / 2;
  const float* cs = a.cos + static_cast<int64_t>(t) * half;
  const float* sn = a.sin + static_cast<int64_t>(t) * half;
  float* x = rows[warp];
  const bool is_q = h < a.head_num;
  float* src = is_q ? a.q + (static_cast<int64_t>(t) * a.head_num + h) * d
                    : a.k + (static_cast<int64_t>(t) * kvh + (h - a.head_num)) * d;
  for (int i = lane; i < d; i += 32) x[i] = src[i];
  __syncwarp();
  rope_row(x, cs, sn, a.rot_dim, a.adjacent);
  __syncwarp();
  const float scale = is_q && a.logn ? a.logn[t] : 1.0f;
  for (int i = lane; i < d; i += 32) src[i] = x[i] * scale;
  if (is_q) return;
  const int kh = h - a.head_num;
  const int blk = a.kv_block[t], slot = a.kv_slot[t];
  const float* stat = a.kv_static ? a.kv_static + a.layer * 8 : nullptr;
  store_kv_row(x, a.kv, a.kv.row(a.kv_pool, blk, a.layer, 0, kh, slot), a.kv.params(a.kv_pool, blk, a.layer, 0, kh, slot),
               stat);
  __syncwarp();
  const float* vsrc = a.v + (static_cast<int64_t>(t) * kvh + kh) * d;
  for (int i = lane; i < d; i += 32) x[i] = vsrc[i];
  __syncwarp();
  store_kv_row(x, a.kv, a.kv.row(a.kv_pool, blk, a.layer, 1, kh, slot), a.kv.params(a.kv_pool, blk, a.layer, 1, kh, slot),
               stat ? stat + 4 : nullptr);
}

inline void rope_kv_write(const RopeKvArgs& a) {
  LMD_CHECK(a.kv.head_dim <= kMaxHeadDim && a.kv.head_dim % 2 == 0 && a.rot_dim <= a.kv.head_dim)
      << "rope_kv_write: head_dim " << a.kv.head_dim << " / rot_dim " << a.rot_dim << " unsupported";
  LMD_CHECK(!a.kv_static || a.kv.kind == KvKind::kInt8)
      << "rope_kv_write: static kv_qparams need an int8 KV cache, the layout's kind is " << static_cast<int>(a.kv.kind);
  if (a.n == 0) return;
  const dim3 grid(a.n, ceil_div(a.head_num + a.kv.kv_head_num, kRopeWarps));
  launch(rope_kv_write_kernel, grid, 32 * kRopeWarps, 0, a);
}

}  // namespace lmd::cuda
