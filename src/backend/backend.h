// The compute interface model code is written against. Implementations: CpuBackend
// (src/backend/cpu), a CUDA backend later. Model code never names a device: it allocates
// activation buffers with alloc(), uploads weights once with upload_weight(), and calls ops.
//
// Pointers passed to ops are device memory from alloc() unless said otherwise; activation
// buffers are fp32 row-major [tokens, dim]. Ops run in order (a device backend may queue
// them; synchronize() waits). A step is bracketed by begin_step(), which reads the host
// StepPlan once (positions, block tables, RoPE tables) for the position-aware ops.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/dtype.h"
#include "core/error.h"
#include "core/step_plan.h"
#include "core/step_tables.h"
#include "core/kv_layout.h"
#include "core/model_config.h"
#include "core/weights.h"
#include "core/sampling_batch.h"

namespace lmd {

enum class BackendOp {
  kEmbedding,
  kRmsNorm,
  kLinear,      // with the weight dtype / group size asked about
  kRopeKvWrite,
  kAttention,
  kSiluMul,
  kAdd,
};

// "embedding", "linear", ... (error messages).
inline const char* backend_op_name(BackendOp op) {
  switch (op) {
    case BackendOp::kEmbedding: return "embedding";
    case BackendOp::kRmsNorm: return "rms_norm";
    case BackendOp::kLinear: return "linear";
    case BackendOp::kRopeKvWrite: return "rope_kv_write";
    case BackendOp::kAttention: return "attention";
    case BackendOp::kSiluMul: return "silu_mul";
    case BackendOp::kAdd: return "add";
  }
  return "?";
}

// A weight matrix [rows, cols] prepared by a backend (repacked, resident on its device).
class BackendWeight {
 public:
  virtual ~BackendWeight() = default;
  int64_t rows = 0, cols = 0;
  DType dtype = DType::kF32;
  int group_size = 0;
};

// One linear in a fused group: y[t, :] (+)= W x[t, :] (+ bias), for t < n.
struct LinearOut {
  const BackendWeight* weight = nullptr;
  const float* bias = nullptr;        // [rows] or null
  float* y = nullptr;                 // [n, ldy]
  int64_t ldy = 0;                    // 0: weight->rows
  bool accumulate = false;            // y += W x (the residual add, fused)
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;

  // --- memory ---
  virtual void* alloc(size_t bytes) = 0;  // zero-filled, 64-byte aligned
  virtual void free(void* ptr) = 0;
  virtual void copy_to_device(void* dst, const void* src, size_t bytes) = 0;
  virtual void copy_to_host(void* dst, const void* src, size_t bytes) = 0;
  virtual void synchronize() = 0;

  // Can this backend run `op` (for kLinear / kEmbedding: on weights of this dtype and group)?
  virtual bool supports_op(BackendOp op, DType weight_dtype = DType::kF32, int group_size = 0) const = 0;

  // --- weights ---
  // Matrices used by linear() / embedding(): repacked for the backend's kernels.
  virtual std::unique_ptr<BackendWeight> upload_weight(const WeightTensor& w) = 0;

  // --- step ---
  // Reads the plan (host) once: each token's sequence and position, block tables, RoPE
  // tables. `kv_pool` is the device base address of block 0; block i is at
  // kv_pool + i * layout.block_bytes().
  virtual void begin_step(const StepPlan& plan, const KvLayout& layout, uint8_t* kv_pool,
                          const AttentionParams& params) = 0;

  // --- ops; n = tokens of this step unless said otherwise ---
  // out[t] = table row tokens[t]  (tokens: host array of n ids, checked against rows)
  virtual void embedding(const BackendWeight& table, const int32_t* tokens, int n, float* out) = 0;
  // out[t] = x[t] / rms(x[t]) * w        x, out: [n, dim]; w: [dim]
  virtual void rms_norm(const float* x, const float* w, int n, int dim, float eps, float* out) = 0;
  // Several linears over the same input x [n, cols] (fused QKV, gate/up): the input is read
  // (and, on the fast path, quantised) once.
  virtual void linear(const float* x, int n, const LinearOut* outs, int n_outs) = 0;
  // RoPE on q [n, head_num*head_dim] and k [n, kv_head_num*head_dim] in place at each
  // token's position (+ logN scaling of q), then K and V rows written to their KV slots
  // (quantised for int8/int4 kinds).
  virtual void rope_kv_write(int layer, float* q, float* k, const float* v, int n) = 0;
  // out [n, head_num*head_dim]: each token attends to positions 0..its own of its sequence
  // (history in the cache + this step's earlier tokens), GQA.
  virtual void attention(int layer, const float* q, float* out, int n) = 0;
  // out = silu(g) * u, all [n, dim]
  virtual void silu_mul(const float* g, const float* u, int n, int dim, float* out) = 0;
  // x += y, count values
  virtual void add(float* x, const float* y, size_t count) = 0;
  // out[i] = x[rows[i]] for i < n_rows (rows: host array), x/out [*, dim]
  virtual void gather_rows(const float* x, const int32_t* rows, int n_rows, int dim, float* out) = 0;

  // --- sampling (optional capability; default off: the engine samples on the host) ---
  virtual bool supports_sampling() const { return false; }
  // Allocates the sampling buffers once, for up to max_rows rows of `vocab` logits.
  virtual void reserve_sampling(int max_rows, int vocab) {
    (void)max_rows;
    (void)vocab;
    throw Error(std::string("backend '") + name() + "' does not sample on its device", Error::Kind::kUnsupported);
  }
  // logits: [batch.rows(), vocab] device memory. Samples every row marked on_device with the
  // host sampler's rule (src/sampling/sampler.cc) and writes batch->tokens (host, [rows]):
  // the token, or -1 for a row not on_device or one the device declines. Synchronous.
  virtual void sample(const float* logits, int vocab, SamplingBatch* batch) {
    (void)logits;
    (void)vocab;
    (void)batch;
    throw Error(std::string("backend '") + name() + "' does not sample on its device", Error::Kind::kUnsupported);
  }

  // Static int8 KV (lmdeploy kv_qparams): from the next rope_kv_write on, `layer`'s K / V rows
  // are quantised with these parameters (host array: k_scale, k_zp, v_scale, v_zp; scales
  // > 0) instead of per row, in the online int8 row format so attention reads them unchanged:
  // code q + 128 with q = kv_quantize_static_int8(x, scale, zp) (kernels/common/kv_quant.h),
  // row parameters (scale, zp - 128 scale). The model calls it on whichever backend it runs;
  // a backend without it refuses here, at load. The KV cache must then be kInt8.
  virtual void set_kv_static_params(int layer, const float* scale_zp4) {
    (void)scale_zp4;
    throw Error(std::string("backend '") + name() + "': static kv_qparams on the device are not supported (layer " +
                    std::to_string(layer) + ")",
                Error::Kind::kUnsupported);
  }
};

struct CpuBackendOptions {
  int threads = 0;     // 0 = hardware concurrency
  bool exact = false;  // fp32 activations in every linear (no int8 activation quantisation)
  // Reproduce llama.cpp's CPU float operations op by op (its activation quantisation, dot
  // orders, expf, fp16 rounding in attention) so greedy output can be compared bit for bit.
  // Slow; for parity checks (see docs/backend.md "Numerics parity").
  bool llamacpp_numerics = false;
};
std::unique_ptr<Backend> create_cpu_backend(const CpuBackendOptions& opt);

}  // namespace lmd
