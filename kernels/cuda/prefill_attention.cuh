// Paged prefill attention on tensor cores (FlashAttention-2 style), for steps whose
// sequences have many query rows (prompt prefill, chunked prefill on top of history).
//
// GQA packing (as TurboMind): the G = head_num / kv_head_num query heads sharing a KV head
// are folded into the M dimension: "flat row" f = row * G + g of one sequence. A CTA
// (4 warps, 128 threads) takes kTileM = 64 consecutive flat rows of one sequence and one
// KV head; warp w owns flat rows 16w..16w+15 (one m16 mma tile). Grid (tiles, kv_head_num).
//
// Per key tile of kTileN = 32 positions the CTA stages K [32][D] and V^T [D][32] in shared
// memory as fp16 (fp16 KV: K by cp.async; int8 / int4 dequantised with the row's (scale,
// zero) from kernels/common/kv_quant.h; positions past the CTA's last key are zero), then
// each warp computes S = Q K^T (mma m16n8k16, f16 in, f32 accumulators), scales it, masks
// causally against each row's own position (history + its index in the step), updates the
// running max / sum in fp32 and rescales O, rounds P to fp16 straight from the S
// accumulators into A fragments and adds P V. Q is rounded to fp16 once, in shared memory.
// f32 KV is refused: the backend keeps the exact split-K decode kernel for it.
//
// q, out: [rows, head_num, head_dim] fp32 (rows = the step's tokens). Row i of a sequence
// attends positions 0 .. history + i through blocks[table_offset + pos / block_len].
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "kernels/common/kv_quant.h"
#include "kernels/cuda/device_common.cuh"
#include "kernels/cuda/mma.h"

namespace lmd::cuda {

constexpr int kPrefillWarps = 4;
constexpr int kPrefillTileM = 16 * kPrefillWarps;  // flat (row, head) rows per CTA
constexpr int kPrefillTileN = 32;                  // key positions per shared-memory tile
constexpr int kPrefillPad = 8;                     // fp16 row padding: 16-byte aligned rows, fewer bank conflicts
// The backend sends a sequence through this kernel when it has at least this many rows in
// the step (fewer rows waste most of a 16-row mma tile; the decode kernel handles them).
constexpr int kPrefillMinRows = 16;

// One sequence's rows in the step.
struct PrefillSeq {
  int32_t row0;          // first row (token) of the sequence in the step
  int32_t n_rows;        // its rows in the step
  int32_t history;       // positions already in the cache before the step
  int32_t table_offset;  // its block table in `blocks`
};

// One CTA's work: flat rows [flat0, flat0 + kPrefillTileM) of a sequence.
struct PrefillTile {
  PrefillSeq seq;
  int32_t flat0;
};

struct PrefillAttentionArgs {
  const float* q;
  float* out;
  const PrefillTile* tiles;  // device
  int num_tiles;
  const int32_t* blocks;
  uint8_t* kv_pool;
  KvView kv;
  int layer;
  int head_num;
  float scale;
};

// The kernel's CTAs for these sequences at GQA ratio `group`.
inline std::vector<PrefillTile> prefill_tiles(const std::vector<PrefillSeq>& seqs, int group) {
  std::vector<PrefillTile> tiles;
  for (const PrefillSeq& s : seqs) {
    const int64_t flat = static_cast<int64_t>(s.n_rows) * group;
    for (int64_t f = 0; f < flat; f += kPrefillTileM) tiles.push_back(PrefillTile{s, static_cast<int32_t>(f)});
  }
  return tiles;
}

// True when the prefill kernel can run this KV layout (the decode kernel covers the rest).
inline bool prefill_attention_supported(const KvView& kv, int head_num) {
  return kv.kind != KvKind::kF32 && (kv.head_dim == 64 || kv.head_dim == 128) && kv.kv_head_num > 0 &&
         head_num % kv.kv_head_num == 0;
}

// True when a sequence with `n_rows` rows in the step should use the prefill kernel.
inline bool use_prefill_attention(const KvView& kv, int head_num, int n_rows) {
  return n_rows >= kPrefillMinRows && prefill_attention_supported(kv, head_num);
}

LMD_DEVICE uint32_t prefill_pack_f16x2(float lo, float hi) {
  return static_cast<uint32_t>(__half_as_ushort(__float2half_rn(lo))) |
         (static_cast<uint32_t>(__half_as_ushort(__float2half_rn(hi))) << 16);
}

// Eight elements d0..d0+7 of one K or V row as fp32 (int8 / int4 dequantised).
template <KvKind kKind>
LMD_DEVICE void prefill_load_kv8(const KvView& kv, uint8_t* pool, int block, int layer, int which, int head,
                                 int slot, int d0, float* x) {
  const uint8_t* row = kv.row(pool, block, layer, which, head, slot);
  if (kKind == KvKind::kF16) {
#pragma unroll
    for (int e = 0; e < 8; ++e) x[e] = __half2float(reinterpret_cast<const __half*>(row)[d0 + e]);
  } else {
    const float* p = kv.params(pool, block, layer, which, head, slot);
    const float s = p[0], z = p[1];
    if (kKind == KvKind::kInt8) {
#pragma unroll
      for (int e = 0; e < 8; ++e) x[e] = kv_dequantize_value(row[d0 + e], s, z);
    } else {
#pragma unroll
      for (int e = 0; e < 8; e += 2) {
        const uint8_t b = row[(d0 + e) / 2];
        x[e] = kv_dequantize_value(b & 15, s, z);
        x[e + 1] = kv_dequantize_value(b >> 4, s, z);
      }
    }
  }
}

template <int kHeadDim, KvKind kKind>
__global__ void __launch_bounds__(32 * kPrefillWarps) prefill_attention_kernel(PrefillAttentionArgs a) {
  constexpr int D = kHeadDim, N = kPrefillTileN, M = kPrefillTileM;
  constexpr int kDTiles = D / 8;  // n8 tiles of O
  SMEM(__half, sq, [M][D + kPrefillPad]);
  SMEM(__half, sk, [N][D + kPrefillPad]);
  SMEM(__half, svt, [D][N + kPrefillPad]);  // V transposed: B fragments of P V by plain ldmatrix

  const PrefillTile tile = a.tiles[blockIdx.x];
  const PrefillSeq& seq = tile.seq;
  const int kvh = blockIdx.y;
  const int group = a.head_num / a.kv.kv_head_num;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int g = lane / 4, t = lane % 4;
  const int flat_end = seq.n_rows * group;
  // Position of a CTA-local flat row; padding rows repeat the last row (finite, never written).
  auto row_pos = [&](int local) {
    const int f = min(tile.flat0 + local, flat_end - 1);
    return seq.history + f / group;
  };
  const int kv_end = row_pos(M - 1) + 1;  // keys the CTA needs
  const int32_t* table = a.blocks + seq.table_offset;

  // Q -> fp16 in shared memory (padding rows zero).
  for (int i = threadIdx.x; i < M * D; i += blockDim.x) {
    const int local = i / D, d = i % D, f = tile.flat0 + local;
    float x = 0.0f;
    if (f < flat_end) {
      const int64_t row = seq.row0 + f / group, head = static_cast<int64_t>(kvh) * group + f % group;
      x = a.q[(row * a.head_num + head) * D + d];
    }
    sq[local][d] = __float2half_rn(x);
  }

  const int r_lo = warp * 16 + g, r_hi = r_lo + 8;  // this lane's two rows (CTA-local)
  const int pos_lo = row_pos(r_lo), pos_hi = row_pos(r_hi);
  const int warp_last = row_pos(warp * 16 + 15);  // largest position of the warp's rows
  float o[kDTiles][4];
#pragma unroll
  for (int j = 0; j < kDTiles; ++j) {
#pragma unroll
    for (int c = 0; c < 4; ++c) o[j][c] = 0.0f;
  }
  float m_lo = -INFINITY, m_hi = -INFINITY, l_lo = 0.0f, l_hi = 0.0f;

  for (int key0 = 0; key0 < kv_end; key0 += N) {
    __syncthreads();  // the previous tile's readers are done (and Q is staged, first time)
    for (int c = threadIdx.x; c < N * (D / 8); c += blockDim.x) {
      const int key = c / (D / 8), d0 = (c % (D / 8)) * 8, pos = key0 + key;
      float kx[8], vx[8];
      if (pos < kv_end) {
        const int block = table[pos / a.kv.block_len], slot = pos % a.kv.block_len;
        if (kKind == KvKind::kF16) {
          cp_async16(&sk[key][d0], a.kv.row(a.kv_pool, block, a.layer, 0, kvh, slot) + d0 * 2);
        } else {
          prefill_load_kv8<kKind>(a.kv, a.kv_pool, block, a.layer, 0, kvh, slot, d0, kx);
#pragma unroll
          for (int e = 0; e < 8; ++e) sk[key][d0 + e] = __float2half_rn(kx[e]);
        }
        prefill_load_kv8<kKind>(a.kv, a.kv_pool, block, a.layer, 1, kvh, slot, d0, vx);
      } else {
#pragma unroll
        for (int e = 0; e < 8; ++e) {
          sk[key][d0 + e] = __float2half_rn(0.0f);
          vx[e] = 0.0f;  // P is 0 there, but 0 * poison would be NaN
        }
      }
#pragma unroll
      for (int e = 0; e < 8; ++e) svt[d0 + e][key] = __float2half_rn(vx[e]);
    }
    if (kKind == KvKind::kF16) {
      cp_async_commit();
      cp_async_wait<0>();
    }
    __syncthreads();
    if (key0 > warp_last) continue;  // warp-uniform: every row of this warp is masked here

    // S = Q K^T: [16 rows][N keys] in N/8 accumulator tiles.
    float s[N / 8][4];
#pragma unroll
    for (int j = 0; j < N / 8; ++j) {
#pragma unroll
      for (int c = 0; c < 4; ++c) s[j][c] = 0.0f;
    }
#pragma unroll
    for (int ks = 0; ks < D / 16; ++ks) {
      uint32_t af[4];
      ldmatrix_x4(af, &sq[warp * 16 + lane % 16][ks * 16 + (lane / 16) * 8]);
#pragma unroll
      for (int jj = 0; jj < N / 16; ++jj) {
        uint32_t bf[4];
        ldmatrix_x4(bf, &sk[jj * 16 + (lane / 16) * 8 + lane % 8][ks * 16 + ((lane / 8) % 2) * 8]);
        const uint32_t b0[2] = {bf[0], bf[1]}, b1[2] = {bf[2], bf[3]};
        mma_m16n8k16(s[2 * jj], af, b0, s[2 * jj]);
        mma_m16n8k16(s[2 * jj + 1], af, b1, s[2 * jj + 1]);
      }
    }

    // Scale, causal mask, online softmax. Lane holds rows (g, g+8), keys 8j + 2t + {0, 1}.
    float mx_lo = -INFINITY, mx_hi = -INFINITY;
#pragma unroll
    for (int j = 0; j < N / 8; ++j) {
#pragma unroll
      for (int c = 0; c < 2; ++c) {
        const int key = key0 + 8 * j + 2 * t + c;
        s[j][c] = key <= pos_lo ? s[j][c] * a.scale : -INFINITY;
        s[j][2 + c] = key <= pos_hi ? s[j][2 + c] * a.scale : -INFINITY;
        mx_lo = fmaxf(mx_lo, s[j][c]);
        mx_hi = fmaxf(mx_hi, s[j][2 + c]);
      }
    }
    // The 4 lanes of a quad share the rows.
    mx_lo = fmaxf(mx_lo, __shfl_xor_sync(0xffffffffu, mx_lo, 1));
    mx_lo = fmaxf(mx_lo, __shfl_xor_sync(0xffffffffu, mx_lo, 2));
    mx_hi = fmaxf(mx_hi, __shfl_xor_sync(0xffffffffu, mx_hi, 1));
    mx_hi = fmaxf(mx_hi, __shfl_xor_sync(0xffffffffu, mx_hi, 2));
    // Key 0 is in the first tile and valid for every row, so the running max is finite
    // from then on; a tile that masks a row entirely leaves mx = -inf and m unchanged.
    const float mn_lo = fmaxf(m_lo, mx_lo), mn_hi = fmaxf(m_hi, mx_hi);
    const float c_lo = expf(m_lo - mn_lo), c_hi = expf(m_hi - mn_hi);
    m_lo = mn_lo;
    m_hi = mn_hi;
    float sum_lo = 0.0f, sum_hi = 0.0f;
#pragma unroll
    for (int j = 0; j < N / 8; ++j) {
#pragma unroll
      for (int c = 0; c < 2; ++c) {
        s[j][c] = expf(s[j][c] - mn_lo);
        s[j][2 + c] = expf(s[j][2 + c] - mn_hi);
        sum_lo += s[j][c];
        sum_hi += s[j][2 + c];
      }
    }
    l_lo = l_lo * c_lo + sum_lo;  // this lane's columns only; the quad is summed at the end
    l_hi = l_hi * c_hi + sum_hi;
#pragma unroll
    for (int j = 0; j < kDTiles; ++j) {
      o[j][0] *= c_lo;
      o[j][1] *= c_lo;
      o[j][2] *= c_hi;
      o[j][3] *= c_hi;
    }

    // O += P V. The S accumulators of key tiles 2kk, 2kk+1 are the A fragment of keys
    // 16kk..16kk+15 (C layout row g / g+8, columns 2t.. = A layout a[0..3]).
#pragma unroll
    for (int kk = 0; kk < N / 16; ++kk) {
      const uint32_t pf[4] = {prefill_pack_f16x2(s[2 * kk][0], s[2 * kk][1]),
                              prefill_pack_f16x2(s[2 * kk][2], s[2 * kk][3]),
                              prefill_pack_f16x2(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                              prefill_pack_f16x2(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
      for (int dd = 0; dd < D / 16; ++dd) {
        uint32_t bf[4];
        ldmatrix_x4(bf, &svt[dd * 16 + (lane / 16) * 8 + lane % 8][kk * 16 + ((lane / 8) % 2) * 8]);
        const uint32_t b0[2] = {bf[0], bf[1]}, b1[2] = {bf[2], bf[3]};
        mma_m16n8k16(o[2 * dd], pf, b0, o[2 * dd]);
        mma_m16n8k16(o[2 * dd + 1], pf, b1, o[2 * dd + 1]);
      }
    }
  }

  l_lo += __shfl_xor_sync(0xffffffffu, l_lo, 1);
  l_lo += __shfl_xor_sync(0xffffffffu, l_lo, 2);
  l_hi += __shfl_xor_sync(0xffffffffu, l_hi, 1);
  l_hi += __shfl_xor_sync(0xffffffffu, l_hi, 2);
  const float inv_lo = 1.0f / l_lo, inv_hi = 1.0f / l_hi;
  const int f_lo = tile.flat0 + r_lo, f_hi = tile.flat0 + r_hi;
  float* out_lo = nullptr;
  float* out_hi = nullptr;
  if (f_lo < flat_end)
    out_lo = a.out + ((static_cast<int64_t>(seq.row0) + f_lo / group) * a.head_num + kvh * group + f_lo % group) * D;
  if (f_hi < flat_end)
    out_hi = a.out + ((static_cast<int64_t>(seq.row0) + f_hi / group) * a.head_num + kvh * group + f_hi % group) * D;
#pragma unroll
  for (int j = 0; j < kDTiles; ++j) {
    const int d = 8 * j + 2 * t;
    if (out_lo) {
      out_lo[d] = o[j][0] * inv_lo;
      out_lo[d + 1] = o[j][1] * inv_lo;
    }
    if (out_hi) {
      out_hi[d] = o[j][2] * inv_hi;
      out_hi[d + 1] = o[j][3] * inv_hi;
    }
  }
}

template <int kHeadDim>
void prefill_attention_dim(const PrefillAttentionArgs& a) {
  const dim3 grid(a.num_tiles, a.kv.kv_head_num);
  switch (a.kv.kind) {
    case KvKind::kF16:
      launch(prefill_attention_kernel<kHeadDim, KvKind::kF16>, grid, 32 * kPrefillWarps, 0, a);
      break;
    case KvKind::kInt8:
      launch(prefill_attention_kernel<kHeadDim, KvKind::kInt8>, grid, 32 * kPrefillWarps, 0, a);
      break;
    case KvKind::kInt4:
      launch(prefill_attention_kernel<kHeadDim, KvKind::kInt4>, grid, 32 * kPrefillWarps, 0, a);
      break;
    case KvKind::kF32: break;  // refused by prefill_attention()
  }
}

// The one dtype / shape dispatch point; a.tiles from prefill_tiles(), on the device.
inline void prefill_attention(const PrefillAttentionArgs& a) {
  LMD_CHECK(a.kv.kv_head_num > 0 && a.head_num % a.kv.kv_head_num == 0)
      << "prefill attention: head_num " << a.head_num << " is not a multiple of kv_head_num " << a.kv.kv_head_num;
  LMD_CHECK(a.kv.kind != KvKind::kF32)
      << "prefill attention: f32 KV cache unsupported (fp16 tensor cores); use the decode attention kernel";
  if (a.num_tiles == 0) return;
  switch (a.kv.head_dim) {
    case 64: prefill_attention_dim<64>(a); break;
    case 128: prefill_attention_dim<128>(a); break;
    default: LMD_FAIL() << "prefill attention: head_dim " << a.kv.head_dim << " unsupported (64 or 128)";
  }
}

}  // namespace lmd::cuda
