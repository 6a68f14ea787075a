// Byte layout of one KV cache block. A block holds `block_len` consecutive positions of
// one sequence, for every layer, K and V, every KV head (of this tensor-parallel rank):
//
//   data:   [layer][kv: 0=K 1=V][kv_head][slot: block_len][head_dim]  elements of `kind`
//   params: [layer][kv][kv_head][slot] × (scale, zero) as float32 — only for int8 / int4
//
// int4 packs two values per byte (low nibble = even element). Quantisation per token and
// head (online), or with static per-layer parameters from kv_qparams (see kernels/common).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/error.h"

namespace lmd {

enum class KvKind : uint8_t { kF32, kF16, kInt8, kInt4 };

struct KvLayout {
  int num_layer = 0;
  int kv_head_num = 0;   // heads of this rank
  int head_dim = 0;
  int block_len = 64;
  KvKind kind = KvKind::kF16;

  // Bytes of one [head_dim] row of K or V.
  size_t row_bytes() const {
    switch (kind) {
      case KvKind::kF32: return static_cast<size_t>(head_dim) * 4;
      case KvKind::kF16: return static_cast<size_t>(head_dim) * 2;
      case KvKind::kInt8: return static_cast<size_t>(head_dim);
      case KvKind::kInt4: return static_cast<size_t>(head_dim) / 2;
    }
    return 0;
  }
  bool quantized() const { return kind == KvKind::kInt8 || kind == KvKind::kInt4; }
  size_t rows_per_block() const {
    return static_cast<size_t>(num_layer) * 2 * kv_head_num * block_len;
  }
  size_t data_bytes() const { return rows_per_block() * row_bytes(); }
  size_t param_bytes() const { return quantized() ? rows_per_block() * 2 * sizeof(float) : 0; }
  size_t block_bytes() const { return data_bytes() + param_bytes(); }

  // Index of the row (layer, kv, head, slot) within a block.
  size_t row_index(int layer, int kv, int head, int slot) const {
    return ((static_cast<size_t>(layer) * 2 + kv) * kv_head_num + head) * block_len + slot;
  }
  // Offset of a row's data within its block.
  size_t row_offset(int layer, int kv, int head, int slot) const {
    return row_index(layer, kv, head, slot) * row_bytes();
  }
  // Offset of a row's (scale, zero) pair within its block (quantized kinds only).
  size_t param_offset(int layer, int kv, int head, int slot) const {
    return data_bytes() + row_index(layer, kv, head, slot) * 2 * sizeof(float);
  }
};

}  // namespace lmd
