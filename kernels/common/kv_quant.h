// KV-cache quantisation shared by the CPU and CUDA backends (see core/kv_layout.h).
//
// Online (per token and KV head, no calibration), b = 8 or 4 bits, unsigned codes:
//   scale = (max - min) / (2^b - 1),  zero = min
//   q     = clamp(rint((x - zero) * inv_scale), 0, 2^b - 1),  inv_scale = 1/scale (0 if scale==0)
//   x'    = q * scale + zero
// Rounding is round-half-to-even (rintf in the default FP environment, cvt.rni on CUDA),
// and the reciprocal is taken once per row, so every backend produces identical codes.
//
// Static (lmdeploy kv_qparams, per layer): signed int8 codes
//   q = clamp(rint((x - zp) / scale), -128, 127),  x' = q * scale + zp.
#pragma once

#include <math.h>
#include <stdint.h>

#include "kernels/common/host_device.h"

namespace lmd {

struct KvQuantParams {
  float scale;
  float zero;
};

LMD_HD int kv_qmax(int bits) { return (1 << bits) - 1; }

// Parameters of one row of n values.
LMD_HD KvQuantParams kv_quant_params(const float* x, int n, int bits) {
  float lo = x[0], hi = x[0];
  for (int i = 1; i < n; ++i) {
    lo = x[i] < lo ? x[i] : lo;
    hi = x[i] > hi ? x[i] : hi;
  }
  KvQuantParams p;
  p.scale = (hi - lo) / static_cast<float>(kv_qmax(bits));
  p.zero = lo;
  return p;
}

LMD_HD float kv_inv_scale(float scale) { return scale > 0.0f ? 1.0f / scale : 0.0f; }

LMD_HD int kv_quantize_value(float x, float zero, float inv_scale, int qmax) {
  float q = rintf((x - zero) * inv_scale);
  q = q < 0.0f ? 0.0f : q;
  q = q > static_cast<float>(qmax) ? static_cast<float>(qmax) : q;
  return static_cast<int>(q);
}

LMD_HD float kv_dequantize_value(int q, float scale, float zero) { return static_cast<float>(q) * scale + zero; }

// One row of n values -> int8 codes (one per byte); returns its parameters.
LMD_HD KvQuantParams kv_quantize_row_int8(const float* x, int n, uint8_t* q) {
  const KvQuantParams p = kv_quant_params(x, n, 8);
  const float inv = kv_inv_scale(p.scale);
  for (int i = 0; i < n; ++i) q[i] = static_cast<uint8_t>(kv_quantize_value(x[i], p.zero, inv, 255));
  return p;
}

// One row of n (even) values -> int4 codes, two per byte (low nibble = even element).
LMD_HD KvQuantParams kv_quantize_row_int4(const float* x, int n, uint8_t* q) {
  const KvQuantParams p = kv_quant_params(x, n, 4);
  const float inv = kv_inv_scale(p.scale);
  for (int i = 0; i < n; i += 2) {
    const int lo = kv_quantize_value(x[i], p.zero, inv, 15);
    const int hi = kv_quantize_value(x[i + 1], p.zero, inv, 15);
    q[i / 2] = static_cast<uint8_t>(lo | (hi << 4));
  }
  return p;
}

LMD_HD void kv_dequantize_row_int8(const uint8_t* q, int n, KvQuantParams p, float* x) {
  for (int i = 0; i < n; ++i) x[i] = kv_dequantize_value(q[i], p.scale, p.zero);
}

LMD_HD void kv_dequantize_row_int4(const uint8_t* q, int n, KvQuantParams p, float* x) {
  for (int i = 0; i < n; i += 2) {
    x[i] = kv_dequantize_value(q[i / 2] & 15, p.scale, p.zero);
    x[i + 1] = kv_dequantize_value(q[i / 2] >> 4, p.scale, p.zero);
  }
}

// Static (kv_qparams) form, signed int8.
LMD_HD int8_t kv_quantize_static_int8(float x, float scale, float zp) {
  float q = rintf((x - zp) / scale);
  q = q < -128.0f ? -128.0f : q;
  q = q > 127.0f ? 127.0f : q;
  return static_cast<int8_t>(q);
}
LMD_HD float kv_dequantize_static_int8(int8_t q, float scale, float zp) { return static_cast<float>(q) * scale + zp; }

}  // namespace lmd
