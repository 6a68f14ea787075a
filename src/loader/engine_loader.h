// Engine::create(path, config) (include/lmdeploy/engine.h) as four steps, each testable alone:
//
//   resolve_device   --device cpu|cuda|auto + --tp  -> a registered device kind, checked
//   load_model       weights (one ModelWeights per tensor-parallel rank), tokenizer, the
//                    chat template (loader/chat_template_resolver.h), the engine settings applied to the config
//   size_kv_pool     the KV layout and its block count (loader/kv_pool_size.h) from host or
//                    device memory
//   build_runtime    the Model on its backends + the tokenizer as the engine's TextCodec
//
// This is the one place that knows every layer below the engine (convert, format, tokenizer,
// template, backend, comm): the engine itself only sees a Model and a TextCodec.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/device_registry.h"
#include "core/kv_layout.h"
#include "core/weights.h"
#include "lmdeploy/engine.h"
#include "template/chat_formatter.h"
#include "tokenizer/tokenizer.h"

namespace lmd {

// The device kind for cfg.device ("auto": the first registered non-CPU kind with a device,
// else cpu) after checking it has a device, and cfg.tp of them for tensor parallelism.
// Throws lmd::Error (kUnsupported / kInvalidArgument) naming the flag and what exists.
const DeviceKind& resolve_device(const EngineConfig& cfg);

struct LoadedModel {
  std::vector<ModelWeights> ranks;   // ranks[0].config: the model's, with cfg applied
  std::unique_ptr<Tokenizer> tokenizer;
  std::string template_name;         // the model's name (a registry template's, or what its Jinja template looks like)
  std::shared_ptr<const ChatFormatter> chat_formatter;  // loader/chat_template_resolver.h
};
// Loads the weights (split or re-sharded for cfg.tp), the tokenizer and the chat template;
// applies session_len, max_batch_size, max_prefill_token_num, cache_block_seq_len and
// quant_policy from cfg to every rank's config.
LoadedModel load_model(const std::string& model_path, const EngineConfig& cfg);

struct KvPoolPlan {
  KvLayout layout;          // a block's bytes over all ranks (one pool budget)
  int32_t num_blocks = 0;
  uint64_t available_bytes = 0;
  uint64_t weight_bytes = 0;
};
// The pool for `model` on `device`: cache_max_entry_count of the host's (or, for a device
// kind with its own memory, the cfg.tp devices') free memory after the weights, capped at
// max_batch_size x session_len tokens.
KvPoolPlan size_kv_pool(const LoadedModel& model, const DeviceKind& device, const EngineConfig& cfg);

// Host bytes of the weights (data + scales) of one rank.
uint64_t weight_bytes(const ModelWeights& w);

// The model on its backends and the engine around it. Consumes model.ranks.
std::unique_ptr<Engine> build_runtime(LoadedModel model, const DeviceKind& device, const KvPoolPlan& pool,
                                      const EngineConfig& cfg);

}  // namespace lmd
