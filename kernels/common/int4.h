// Int4 nibble access shared by the CPU and CUDA backends.
// Canonical layout (core/weights.h): value c of a row sits in byte c/2, low nibble for
// even c. Dequantised: w = q * scale + min (asymmetric, fp16 scale and min per group).
#pragma once

#include <cstdint>

#include "kernels/common/host_device.h"

namespace lmd {

// Unsigned nibble 0..15 of element `i` in a packed array (low nibble = even element).
LMD_HD int int4_get(const uint8_t* packed, int64_t i) {
  const uint8_t b = packed[i >> 1];
  return (i & 1) ? (b >> 4) : (b & 15);
}

LMD_HD void int4_set(uint8_t* packed, int64_t i, int q) {
  uint8_t& b = packed[i >> 1];
  b = (i & 1) ? static_cast<uint8_t>((b & 0x0f) | (q << 4)) : static_cast<uint8_t>((b & 0xf0) | (q & 15));
}

// Both nibbles of one byte: lo = even element, hi = odd element.
LMD_HD void int4_unpack_byte(uint8_t b, int* lo, int* hi) {
  *lo = b & 15;
  *hi = b >> 4;
}

LMD_HD float int4_dequant(int q, float scale, float min) { return static_cast<float>(q) * scale + min; }

}  // namespace lmd
