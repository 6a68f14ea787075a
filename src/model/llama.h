// The Llama-family forward pass (Llama, SmolLM2, InternLM, Qwen2, Mistral shapes) over a
// StepPlan, written only against the Backend ops. Supports q/k/v bias, tied embeddings,
// GQA, both RoPE pairings, dynamic NTK and logN attention scaling.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/kv_layout.h"
#include "model/model.h"
#include "core/weights.h"

namespace lmd {

class Backend;
class Communicator;

struct ModelRuntimeOptions {
  int threads = 0;               // 0 = hardware concurrency
  KvKind kv_kind = KvKind::kF16;
  int32_t kv_num_blocks = 0;     // blocks in the KV pool (the engine decides)
  int block_len = 64;            // positions per KV block
  // fp32 activations in every linear (the reference path for logits tests); otherwise
  // activations are quantised to int8 per 32-block for int4/int8 weights (as llama.cpp).
  bool exact = false;
  bool llamacpp_numerics = false;  // CpuBackendOptions::llamacpp_numerics
  // The device kind the model runs on (src/backend/device_registry.h): "cpu", or "cuda" where
  // registered. One model runs on device 0 of the kind; tensor-parallel rank r on device r
  // (cpu: every rank on the host), with the kind's communicators.
  std::string device = "cpu";
  // Test seams, each overriding the device kind's choice when set: the backend of a model
  // (one per model / rank), rank r's backend, and the N communicators of a tensor-parallel
  // model (rank r's at [r]; their all_reduce_sum must take the backend's buffers).
  std::function<std::unique_ptr<Backend>()> make_backend;
  std::function<std::unique_ptr<Backend>(int rank)> make_rank_backend;
  std::function<std::vector<std::unique_ptr<Communicator>>(int size)> make_comms;
  // Tensor parallelism (docs/architecture.md): this model is rank comm->rank() of
  // comm->size(), its weights are that rank's shards (convert::split_model: the whole
  // model's config with tensor_para_size = size, per-layer tensors sliced) and it calls
  // comm->all_reduce_sum after wo and after w2. Null: one rank (no collectives at all).
  // Not owned; TpModel (tp_model.h) wires N ranks together.
  Communicator* comm = nullptr;
};

// Calibration hook (src/lite): sees, per forward step, the fp32 input of every linear and
// the K (after RoPE) / V rows written to the cache. Called on the engine thread; the
// pointers are host memory (CPU backend) valid only during the call.
class ForwardObserver {
 public:
  enum class Site { kQkvIn, kOIn, kGateUpIn, kDownIn };  // inputs of q/k/v, o, gate/up, down
  virtual ~ForwardObserver() = default;
  virtual void on_linear_input(int layer, Site site, const float* x, int n, int dim) = 0;  // x [n, dim]
  virtual void on_kv(int layer, const float* k, const float* v, int n, int kv_dim) = 0;    // [n, kv_dim]
};

class LlamaModel : public Model {
 public:
  virtual size_t kv_pool_bytes() const = 0;
  // nullptr detaches. Not owned.
  virtual void set_observer(ForwardObserver* observer) = 0;
  // True when int8 KV uses the static per-layer parameters (layers' past_kv_scale).
  virtual bool kv_static() const = 0;
};

// Uploads (repacks) the weights and allocates the KV pool. `w` may be freed afterwards.
// With opt.comm (rank r of N): q/k/v, w1/w3 and the KV pool hold this rank's heads / inter
// slice, wo/w2 its columns, and the all-reduces after wo and w2 run on the backend's device
// buffers; the lm head computes vocab rows [r·V/N, (r+1)·V/N) into device scratch
// [rows, V/N], then copies each row into its column range of the host `logits` (one copy per
// logits row and rank; the ranks' ranges are disjoint, so they write concurrently; see
// tp_model.h). An NCCL all-gather would be the GPU-optimal form.
// With kv_kind kInt8 and past_kv_scale on every layer, K/V are quantised with those static
// parameters (lmdeploy kv_qparams) instead of per token: codes q = clamp(rint((x-zp)/scale),
// -128, 127) are stored as q + 128 with the row parameters (scale, zp - 128*scale), so the
// block layout and the attention read path are the same as online int8.
// Device sampling (model.h): with one rank and a backend that supports_sampling (CUDA), the lm
// head writes device logits [max rows, vocab] (allocated by enable_device_sampling) and
// forward_sample copies back only the rows the host samples.
std::unique_ptr<LlamaModel> create_llama_model(const ModelWeights& w, const ModelRuntimeOptions& opt);
// The same, taking the weights over: each host tensor is freed as soon as the backend holds
// its own copy (the loader's path: peak memory is one copy of the weights, not two).
std::unique_ptr<LlamaModel> create_llama_model(ModelWeights&& w, const ModelRuntimeOptions& opt);

}  // namespace lmd
