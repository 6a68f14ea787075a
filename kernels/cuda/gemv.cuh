// GEMV / small-batch GEMM for the weight formats that are not W4A16, SIMT:
//   y[t, r] (+)= Σ_c w(r, c) x[t, c] (+ bias[r])   for t < n
// with w either dense ([rows, cols] of float / __half / __nv_bfloat16) or int8 group-wise
// symmetric (core/weights.h, GGUF Q8_0: w = q * fp16 scale per group of `group_size`).
// Same shape as w4a16_gemv.cuh: one warp per output row, lanes read consecutive columns
// (coalesced), up to 4 (8 for n > 4) tokens share each weight load, fp32 accumulation.
// x: fp32 [n, cols]; y: fp32 [n, ldy].
//
// On a GPU the dense fp16 / bf16 path of a large batch belongs to cuBLAS (not wired yet,
// see docs/cuda.md); this kernel is the decode-sized path and the one the shim runs.
#pragma once

#include "kernels/cuda/device_common.cuh"
#include "kernels/cuda/w4a16_gemv.cuh"  // kGemvWarps, kGemvTokens, kGemvTokensLarge

namespace lmd::cuda {

template <typename T>
struct DenseMatrix {
  const T* w;
  int rows, cols;
  LMD_DEVICE float at(int r, int c) const { return to_float(w[static_cast<int64_t>(r) * cols + c]); }
};

struct Int8Matrix {
  const int8_t* q;
  const uint16_t* scale;  // fp16 [rows, cols / group_size]
  int rows, cols, group_size;
  LMD_DEVICE float at(int r, int c) const {
    const float s = __half2float(reinterpret_cast<const __half*>(scale)[static_cast<int64_t>(r) * (cols / group_size) +
                                                                        c / group_size]);
    return static_cast<float>(q[static_cast<int64_t>(r) * cols + c]) * s;
  }
};

template <typename M, int kTokens>
__global__ void __launch_bounds__(32 * kGemvWarps)
    gemv_kernel(M w, const float* x, int n, const float* bias, float* y, int ldy, bool accumulate) {
  const int r = blockIdx.x * kGemvWarps + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (r >= w.rows) return;  // whole warps: no barrier below
  const int t0 = blockIdx.y * kTokens;
  const int nt = min(kTokens, n - t0);
  float acc[kTokens] = {};
  for (int c = lane; c < w.cols; c += 32) {
    const float wv = w.at(r, c);
#pragma unroll
    for (int t = 0; t < kTokens; ++t) {
      if (t < nt) acc[t] += wv * x[static_cast<int64_t>(t0 + t) * w.cols + c];
    }
  }
  const float v = warp_sum_transposed(acc);  // lane holds token lane / (32 / kTokens)
  const int t = lane / (32 / kTokens);
  if (lane % (32 / kTokens) == 0 && t < nt) {
    float* out = y + static_cast<int64_t>(t0 + t) * ldy + r;
    *out = (accumulate ? *out : 0.0f) + v + (bias ? bias[r] : 0.0f);
  }
}

template <typename M>
void gemv(const M& w, const float* x, int n, const float* bias, float* y, int ldy, bool accumulate) {
  if (n == 0 || w.rows == 0) return;
  if (n <= kGemvTokens) {
    launch(gemv_kernel<M, kGemvTokens>, dim3(ceil_div(w.rows, kGemvWarps), 1), 32 * kGemvWarps, 0, w, x, n, bias, y,
           ldy, accumulate);
  } else {
    launch(gemv_kernel<M, kGemvTokensLarge>, dim3(ceil_div(w.rows, kGemvWarps), ceil_div(n, kGemvTokensLarge)),
           32 * kGemvWarps, 0, w, x, n, bias, y, ldy, accumulate);
  }
}

inline void gemv_int8(const Int8Matrix& w, const float* x, int n, const float* bias, float* y, int ldy,
                      bool accumulate) {
  LMD_CHECK(w.group_size > 0 && w.cols % w.group_size == 0)
      << "gemv_int8: cols " << w.cols << " / group_size " << w.group_size << " unsupported";
  gemv(w, x, n, bias, y, ldy, accumulate);
}

}  // namespace lmd::cuda
