// The model as the engine sees it: one forward step over a StepPlan, reading and writing
// KV blocks of a pool it was given. Implementations: LlamaModel (src/model/llama.*).
#pragma once

#include <cstdint>
#include <memory>

#include "engine/step_plan.h"
#include "kv/kv_layout.h"
#include "model/model_config.h"

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
};

}  // namespace lmd
