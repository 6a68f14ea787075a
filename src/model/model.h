// The model as the engine sees it: one forward step over a StepPlan, reading and writing
// KV blocks of a pool it was given, and optionally sampling the step's tokens on its device.
// Implementations: LlamaModel (src/model/llama.*), TpModel (src/model/tp_model.*).
#pragma once

#include <cstdint>
#include <memory>

#include "core/error.h"
#include "core/step_plan.h"
#include "core/kv_layout.h"
#include "core/model_config.h"
#include "core/sampling_batch.h"

namespace lmd {

class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelConfig& config() const = 0;
  virtual const KvLayout& kv_layout() const = 0;
  // Base address of KV block `id` (the pool is owned by the model's backend).
  virtual uint8_t* kv_block(int32_t id) = 0;
  virtual int32_t kv_num_blocks() const = 0;
  // Runs one step: appends K/V of the plan's tokens into their blocks and writes
  // logits [plan.num_logit_rows(), vocab_size] (fp32, row-major) to `logits`.
  virtual void forward(const StepPlan& plan, float* logits) = 0;

  // --- sampling on the model's device (optional; default: not supported) ---
  // Prepares it for steps of up to `max_rows` logits rows (the device buffers are allocated
  // here, once). False: the model cannot sample (CPU backend, tensor parallelism): the
  // engine samples every row on the host from forward()'s logits.
  virtual bool enable_device_sampling(int max_rows) {
    (void)max_rows;
    return false;
  }
  // forward(), then each logits row marked on_device in `sampling` (one row per logits row,
  // rows() <= max_rows) is sampled where its logits are: sampling->tokens[row] gets the token
  // and its logits are not copied. Every other row — not on_device, or declined by the
  // device (tokens[row] == -1) — gets its logits in `logits` [rows, vocab] at its row, as
  // forward() writes them. Only after enable_device_sampling() returned true.
  virtual void forward_sample(const StepPlan& plan, float* logits, SamplingBatch* sampling) {
    (void)plan;
    (void)logits;
    (void)sampling;
    throw Error("forward_sample: this model does not sample on its device (enable_device_sampling is false)",
                Error::Kind::kUnsupported);
  }
};

}  // namespace lmd
