// W4A16 GEMM on tensor cores (mma.sync m16n8k16, f16 x f16 -> f32) for prefill-sized steps:
//   y[t, r] (+)= Σ_c w(r, c) x[t, c] (+ bias[r])   for t < m tokens (m >= 16; decode-sized
// steps keep the SIMT GEMV of w4a16_gemv.cuh).
// Weights: int4 codes of core/weights.h (w = q * scale + min, fp16 (scale, min) per group of
// 32 / 64 / 128 columns), REPACKED once at upload (w4_repack) so that one 32-bit load per lane
// gives exactly the codes of that lane's B fragments (mma.h: b[0] = B(2t..2t+1, g),
// b[1] = B(2t+8..2t+9, g), with B(k, n) = w(n0 + n, k0 + k)) for two k16 steps.
//
// Packed layout (TurboMind-style "fragment order"), uint32 words:
//   packed[((nt * kb_count) + kb) * 32 + lane]     nt = row / 8 (rows padded to a multiple of
//                                                  8 with code 0), kb = col / 32, kb_count = cols / 32
//   lane = 4 g + t holds row nt*8 + g; its nibble j (bits 4j..4j+3) is column
//     kb*32 + 16 (j / 4) + 8 ((j / 2) % 2) + 2t + (j % 2)
//   i.e. nibbles 0-1 = b[0] and 2-3 = b[1] of the first k16 step, 4-7 the same for the second.
// A warp's load of one (row tile, k32 block) is 128 contiguous bytes. The (scale, min) pairs
// stay in weights.h's layout ([rows, cols / group, 2] fp16): with group >= 32 each lane needs
// one pair per (row tile, k32 block). cols must be a multiple of 32 (every supported group
// size guarantees it); w4_repack checks it.
//
// CTA: 4 warps, tile 32 tokens x 128 rows, k step 32. Per k step the CTA converts the fp32 (or
// fp16) activation tile to f16 into shared memory (rows >= m are zero), every warp loads its
// A fragments with ldmatrix.x4 and computes 2 (m16) x 4 (n8) x 2 (k16) mma with the B
// fragments dequantised in registers (fp32 q * scale + min, rounded to f16); the packed words
// of the next k step are loaded before this step's mma. fp32 accumulators;
// the epilogue adds the old y (accumulate: the residual add) and the bias and writes rows < n,
// tokens < m. Numerics: activations and dequantised weights are rounded to f16 (relative 2^-11
// each), products and sums in fp32.
#pragma once

#include <cstdint>
#include <vector>

#include "core/error.h"
#include "kernels/common/half.h"
#include "kernels/cuda/device_common.cuh"
#include "kernels/cuda/mma.h"

namespace lmd::cuda {

constexpr int kGemmWarps = 4;
constexpr int kGemmBM = 32;   // tokens per CTA (2 m16 tiles, every warp)
constexpr int kGemmBN = 128;  // weight rows per CTA (4 n8 tiles per warp)
constexpr int kGemmBK = 32;   // columns per k step (2 k16 steps, one packed word per n8 tile)
constexpr int kGemmMinTokens = 16;  // the backend uses this kernel for m >= 16

struct W4Packed {
  const uint32_t* packed;     // fragment-order codes (above)
  const uint16_t* scale_min;  // fp16 (scale, min) [rows, cols / group_size, 2]
  int rows, cols, group_size;
};

// Column of nibble j of lane (g, t) within its k32 block.
LMD_HD int w4_packed_col(int j, int t) { return 16 * (j / 4) + 8 * ((j / 2) % 2) + 2 * t + (j % 2); }

inline int64_t w4_packed_words(int64_t rows, int64_t cols) { return (rows + 7) / 8 * (cols / 32) * 32; }

// Canonical nibbles (weights.h) -> fragment order. Host-side, once per weight.
inline std::vector<uint32_t> w4_repack(const uint8_t* nibbles, int64_t rows, int64_t cols) {
  LMD_CHECK(rows >= 0 && cols > 0 && cols % 32 == 0)
      << "w4_repack: cols " << cols << " is not a multiple of 32 (the W4A16 GEMM's k step)";
  const int64_t kbs = cols / 32;
  std::vector<uint32_t> out(static_cast<size_t>(w4_packed_words(rows, cols)), 0u);
  for (int64_t nt = 0; nt < (rows + 7) / 8; ++nt) {
    for (int64_t kb = 0; kb < kbs; ++kb) {
      for (int lane = 0; lane < 32; ++lane) {
        const int64_t r = nt * 8 + lane / 4;
        if (r >= rows) continue;  // padded rows: code 0
        uint32_t word = 0;
        for (int j = 0; j < 8; ++j) {
          const int64_t c = kb * 32 + w4_packed_col(j, lane % 4);
          const int64_t idx = r * cols + c;
          const uint32_t q = (nibbles[idx / 2] >> (4 * (idx % 2))) & 15u;
          word |= q << (4 * j);
        }
        out[static_cast<size_t>((nt * kbs + kb) * 32 + lane)] = word;
      }
    }
  }
  return out;
}

// Fragment order -> canonical nibbles (the inverse of w4_repack; tests prove the round trip).
inline std::vector<uint8_t> w4_unpack(const uint32_t* packed, int64_t rows, int64_t cols) {
  LMD_CHECK(cols > 0 && cols % 32 == 0) << "w4_unpack: cols " << cols << " is not a multiple of 32";
  const int64_t kbs = cols / 32;
  std::vector<uint8_t> out(static_cast<size_t>(rows * cols / 2), 0);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const int64_t nt = r / 8, kb = c / 32;
      const int g = static_cast<int>(r % 8);
      int lane = -1, j = -1;
      for (int t = 0; t < 4 && lane < 0; ++t)
        for (int jj = 0; jj < 8; ++jj)
          if (w4_packed_col(jj, t) == c % 32) {
            lane = 4 * g + t;
            j = jj;
            break;
          }
      const uint32_t q = (packed[(nt * kbs + kb) * 32 + lane] >> (4 * j)) & 15u;
      const int64_t idx = r * cols + c;
      out[static_cast<size_t>(idx / 2)] |= static_cast<uint8_t>(q << (4 * (idx % 2)));
    }
  }
  return out;
}

// Two f16 (low = a) in one register, as the mma operands want them.
LMD_DEVICE uint32_t pack_f16x2(float a, float b) {
  return static_cast<uint32_t>(f32_to_fp16(a)) | (static_cast<uint32_t>(f32_to_fp16(b)) << 16);
}

template <typename T>
__global__ void __launch_bounds__(32 * kGemmWarps)
    w4a16_gemm_kernel(W4Packed w, const T* x, int m, const float* bias, float* y, int ldy, bool accumulate) {
  // +8 halves per row: 80-byte rows keep ldmatrix rows 16-byte aligned and spread the banks.
  SMEM(uint16_t, sa, [kGemmBM][kGemmBK + 8]);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int g = lane / 4, t = lane % 4;
  const int m0 = blockIdx.y * kGemmBM;
  const int n_warp = blockIdx.x * kGemmBN + warp * 32;  // this warp's first weight row
  const int kbs = w.cols / 32;
  const int groups = w.cols / w.group_size;
  const int n_tiles = (w.rows + 7) / 8;

  // This warp's packed words of k step kb (row tiles past the matrix read nothing), loaded one
  // k step ahead so the global loads overlap the previous step's mma.
  auto load_words = [&](int kb, uint32_t (&words)[4]) {
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int nt = n_warp / 8 + j;
      words[j] = nt < n_tiles ? w.packed[(static_cast<int64_t>(nt) * kbs + kb) * 32 + lane] : 0u;
    }
  };
  uint32_t next[4];
  load_words(0, next);
  float acc[2][4][4] = {};
  for (int kb = 0; kb < kbs; ++kb) {
    uint32_t cur[4];
#pragma unroll
    for (int j = 0; j < 4; ++j) cur[j] = next[j];
    if (kb + 1 < kbs) load_words(kb + 1, next);
    // Stage A: 32 tokens x 32 columns, 8 per thread, converted to f16.
    {
      const int row = threadIdx.x / 4, c8 = (threadIdx.x % 4) * 8;
      uint32_t h[4] = {0u, 0u, 0u, 0u};
      if (m0 + row < m) {
        const T* src = x + static_cast<int64_t>(m0 + row) * w.cols + kb * 32 + c8;
#pragma unroll
        for (int i = 0; i < 4; ++i) h[i] = pack_f16x2(to_float(src[2 * i]), to_float(src[2 * i + 1]));
      }
      uint32_t* dst = reinterpret_cast<uint32_t*>(&sa[row][c8]);
#pragma unroll
      for (int i = 0; i < 4; ++i) dst[i] = h[i];
    }
    __syncthreads();
    if (n_warp < w.rows) {  // warp-uniform: the mma below needs the whole warp
      uint32_t a[2][2][4];  // [m16 tile][k16 step]
#pragma unroll
      for (int mt = 0; mt < 2; ++mt)
#pragma unroll
        for (int ks = 0; ks < 2; ++ks) ldmatrix_x4(a[mt][ks], &sa[mt * 16 + lane % 16][ks * 16 + (lane / 16) * 8]);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int nt = n_warp / 8 + j;
        if (nt >= n_tiles) break;  // warp-uniform
        const uint32_t word = cur[j];
        const int r = nt * 8 + g;
        float s = 0.0f, mn = 0.0f;  // padded rows: weight 0
        if (r < w.rows) {
          const uint16_t* sm = w.scale_min + (static_cast<int64_t>(r) * groups + kb * 32 / w.group_size) * 2;
          s = fp16_to_f32(sm[0]);
          mn = fp16_to_f32(sm[1]);
        }
#pragma unroll
        for (int ks = 0; ks < 2; ++ks) {
          uint32_t b[2];
#pragma unroll
          for (int h = 0; h < 2; ++h) {
            const int j0 = ks * 4 + h * 2;
            const float w0 = static_cast<float>((word >> (4 * j0)) & 15u) * s + mn;
            const float w1 = static_cast<float>((word >> (4 * j0 + 4)) & 15u) * s + mn;
            b[h] = pack_f16x2(w0, w1);
          }
#pragma unroll
          for (int mt = 0; mt < 2; ++mt) mma_m16n8k16(acc[mt][j], a[mt][ks], b, acc[mt][j]);
        }
      }
    }
    __syncthreads();  // sa is rewritten by the next k step
  }
  if (n_warp >= w.rows) return;
  // Epilogue: c[0..1] = C(g, 2t..2t+1), c[2..3] = C(g + 8, 2t..2t+1); C(token, row).
#pragma unroll
  for (int mt = 0; mt < 2; ++mt) {
#pragma unroll
    for (int j = 0; j < 4; ++j) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int tok = m0 + mt * 16 + g + 8 * (i / 2);
        const int r = n_warp + j * 8 + 2 * t + (i % 2);
        if (tok < m && r < w.rows) {
          float* out = y + static_cast<int64_t>(tok) * ldy + r;
          *out = (accumulate ? *out : 0.0f) + acc[mt][j][i] + (bias ? bias[r] : 0.0f);
        }
      }
    }
  }
}

// y: fp32 [m, ldy]; x: [m, cols] of T (float / __half). Any m >= 1 works; the backend uses it
// for m >= kGemmMinTokens.
template <typename T>
void w4a16_gemm(const W4Packed& w, const T* x, int m, const float* bias, float* y, int ldy, bool accumulate) {
  LMD_CHECK(w.cols % 32 == 0 && w.group_size >= 32 && w.group_size % 32 == 0 && w.cols % w.group_size == 0)
      << "w4a16_gemm: cols " << w.cols << " / group_size " << w.group_size
      << " unsupported (cols a multiple of 32, group a multiple of 32 dividing cols)";
  if (m <= 0 || w.rows == 0) return;
  launch(w4a16_gemm_kernel<T>, dim3(ceil_div(w.rows, kGemmBN), ceil_div(m, kGemmBM)), dim3(32 * kGemmWarps), 0, w, x,
         m, bias, y, ldy, accumulate);
}

}  // namespace lmd::cuda
