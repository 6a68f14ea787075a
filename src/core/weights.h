// Host-side weights of a Llama-family model in one canonical form, whatever the source
// (GGUF, HF safetensors, AWQ, workspace). Converters produce ModelWeights; the workspace
// writer splits them for tensor parallelism; the engine uploads them to a backend.
//
// Orientation: every matrix is PyTorch's [rows = out_features, cols = in_features],
// row-major. q/k rows are in half-split RoPE order unless config.rope_pairing says
// kAdjacent.
//
// Int4 (DType::kInt4), group-wise asymmetric with fp16 scale and fp16 min per group of
// `group_size` consecutive values along a row:
//   data: packed nibbles, row-major; value (r, c) is in byte (r*cols + c) / 2, the low
//         nibble for even c, the high nibble for odd c;
//   aux:  fp16 pairs [rows, cols/group_size, 2] = (scale, min);
//   w(r, c) = q(r, c) * scale + min   (GGUF Q4_1: scale = d, min = m;
//                                      AWQ: min = -zero * scale).
//
// Int8 group-wise symmetric (DType::kI8 with group_size > 0) — GGUF Q8_0 exactly:
//   data: int8 [rows, cols];  aux: fp16 scale [rows, cols/group_size];
//   w(r, c) = q(r, c) * scale   (computed in fp32).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/model_config.h"

namespace lmd {

struct WeightTensor {
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;   // [rows, cols] for matrices, [n] for vectors
  int group_size = 0;           // kInt4, and kI8 when group-wise
  std::vector<uint8_t> data;    // dense elements, or int4 nibbles
  std::vector<uint8_t> aux;     // kInt4: fp16 (scale, min) pairs; grouped kI8: fp16 scales
  bool empty() const { return shape.empty(); }
  int64_t rows() const { return shape.empty() ? 0 : shape[0]; }
  int64_t cols() const { return shape.size() < 2 ? 1 : shape[1]; }
  int64_t numel() const;
  // Values as fp32 (dequantising int4). For tests, conversion and the reference path.
  std::vector<float> to_f32() const;
};

// Dense tensor from fp32 values, stored as `dtype` (kF32 / kF16 / kBF16).
WeightTensor make_dense(DType dtype, std::vector<int64_t> shape, const float* values);
// Int8 group-wise tensor from int8 values + fp16 scales, in the layout above.
WeightTensor make_int8_grouped(int64_t rows, int64_t cols, int group_size, std::vector<uint8_t> values,
                               std::vector<uint8_t> scales_fp16);
// Int4 tensor from packed nibbles + (scale, min) pairs, already in the layout above.
WeightTensor make_int4(int64_t rows, int64_t cols, int group_size, std::vector<uint8_t> nibbles,
                       std::vector<uint8_t> scale_min_fp16);

struct LayerWeights {
  WeightTensor attention_norm;  // [hidden]
  WeightTensor wq, wk, wv;      // [q_dim, hidden], [kv_dim, hidden], [kv_dim, hidden]
  WeightTensor bq, bk, bv;      // [q_dim], [kv_dim], [kv_dim] when attn_bias (fp32)
  WeightTensor wo;              // [hidden, q_dim]
  WeightTensor bo;              // [hidden] fp32, added after wo (InternLM v1); with tensor
                                // parallelism only rank 0 holds it (added once, not per rank)
  WeightTensor ffn_norm;        // [hidden]
  WeightTensor w1;              // gate [inter, hidden]
  WeightTensor w3;              // up   [inter, hidden]
  WeightTensor w2;              // down [hidden, inter]
  // Static int8 KV parameters from `lmdeploy lite kv_qparams` (this rank's), fp32:
  // [4] = (k_scale, k_zp, v_scale, v_zp) asymmetric, or [2] = (k_scale, v_scale) symmetric.
  // Empty when the workspace has none (int8 KV is then quantised online).
  WeightTensor past_kv_scale;
};

struct ModelWeights {
  ModelConfig config;
  WeightTensor tok_embeddings;  // [vocab, hidden]
  WeightTensor norm;            // [hidden]
  WeightTensor output;          // [vocab, hidden]; empty when config.tie_word_embeddings
  std::vector<LayerWeights> layers;
};

}  // namespace lmd
