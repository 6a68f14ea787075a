// W4A16 GEMV / small-batch GEMM, SIMT path: y[t, r] (+)= Σ_c w(r, c) x[t, c] (+ bias[r])
// for t < n, with int4 weights in core/weights.h's canonical layout:
//   nibbles row-major, value (r, c) in byte (r*cols + c)/2, low nibble for even c;
//   scale_min: fp16 (scale, min) per group of `group_size` columns: w = q * scale + min.
// One warp per output row; lane i reads bytes i, i+32, ... of the row (2 columns each), so
// a warp's loads are contiguous. Up to kTokens (4, or 8 for prefill-sized n) tokens per
// warp share each weight load; the kTokens sums are reduced together (warp_sum_transposed).
// Activations x: [n, cols] of T (float / __half); y: fp32 [n, ldy]; accumulation in fp32.
#pragma once

#include "kernels/common/half.h"
#include "kernels/cuda/device_common.cuh"

namespace lmd::cuda {

constexpr int kGemvWarps = 4;
constexpr int kGemvTokens = 4;       // decode-sized n
constexpr int kGemvTokensLarge = 8;  // n > kGemvTokens

struct W4Matrix {
  const uint8_t* nibbles;
  const uint16_t* scale_min;
  int rows, cols, group_size;
};

template <typename T, int kTokens>
__global__ void __launch_bounds__(32 * kGemvWarps)
    w4a16_gemv_kernel(W4Matrix w, const T* x, int n, const float* bias, float* y, int ldy, bool accumulate) {
  const int r = blockIdx.x * kGemvWarps + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (r >= w.rows) return;  // whole warps: no barrier below
  const int t0 = blockIdx.y * kTokens;
  const int nt = min(kTokens, n - t0);
  const uint8_t* row = w.nibbles + static_cast<int64_t>(r) * w.cols / 2;
  const uint16_t* sm = w.scale_min + static_cast<int64_t>(r) * (w.cols / w.group_size) * 2;
  float acc[kTokens] = {};
  for (int b = lane; b < w.cols / 2; b += 32) {
    const int c = 2 * b, g = c / w.group_size;
    const float s = __half2float(reinterpret_cast<const __half*>(sm)[2 * g]);
    const float mn = __half2float(reinterpret_cast<const __half*>(sm)[2 * g + 1]);
    const uint8_t byte = row[b];
    const float w0 = static_cast<float>(byte & 15) * s + mn;
    const float w1 = static_cast<float>(byte >> 4) * s + mn;
#pragma unroll
    for (int t = 0; t < kTokens; ++t) {
      if (t < nt) {
        const T* xt = x + static_cast<int64_t>(t0 + t) * w.cols + c;
        acc[t] += w0 * to_float(xt[0]) + w1 * to_float(xt[1]);
      }
    }
  }
  const float v = warp_sum_transposed(acc);  // lane holds token lane / (32 / kTokens)
  const int t = lane / (32 / kTokens);
  if (lane % (32 / kTokens) == 0 && t < nt) {
    float* out = y + static_cast<int64_t>(t0 + t) * ldy + r;
    *out = (accumulate ? *out : 0.0f) + v + (bias ? bias[r] : 0.0f);
  }
}

template <typename T>
void w4a16_gemv(const W4Matrix& w, const T* x, int n, const float* bias, float* y, int ldy, bool accumulate) {
  LMD_CHECK(w.cols % 2 == 0 && w.group_size > 0 && w.cols % w.group_size == 0)
      << "w4a16_gemv: cols " << w.cols << " / group_size " << w.group_size << " unsupported";
  if (n == 0 || w.rows == 0) return;
  const dim3 block(32 * kGemvWarps);
  if (n <= kGemvTokens) {
    launch(w4a16_gemv_kernel<T, kGemvTokens>, dim3(ceil_div(w.rows, kGemvWarps), 1), block, 0, w, x, n, bias, y,
           ldy, accumulate);
  } else {
    launch(w4a16_gemv_kernel<T, kGemvTokensLarge>, dim3(ceil_div(w.rows, kGemvWarps), ceil_div(n, kGemvTokensLarge)),
           block, 0, w, x, n, bias, y, ldy, accumulate);
  }
}

}  // namespace lmd::cuda
