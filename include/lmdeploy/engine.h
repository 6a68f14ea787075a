// The engine's public C++ API: submit requests, stream their outputs.
//
//   auto engine = lmd::Engine::create("/path/model.gguf", lmd::EngineConfig{});
//   lmd::Request req;
//   req.prompt_ids = engine->encode("Hello", /*add_bos=*/true);
//   auto stream = engine->submit(req);
//   while (auto out = stream->next()) std::cout << out->text << std::flush;
//
// Threads: one engine thread owns the scheduler, the KV cache and the model. submit(),
// end_session(), stats() and the OutputStream methods may be called from any thread.
// See docs/engine.md.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lmdeploy/generation_config.h"

namespace lmd {

class Model;          // src/model/model.h
class TextCodec;      // src/engine/text_codec.h
class ChatFormatter;  // src/template/chat_formatter.h

struct EngineConfig {
  int session_len = 0;               // 0: the model's config
  int max_batch_size = 0;            // 0: the model's config
  float cache_max_entry_count = 0.5f;  // < 1: fraction of available memory; >= 1: blocks
  int cache_block_seq_len = 64;      // tokens per KV block
  int max_prefill_token_num = 8192;  // prefill tokens per step (longer prompts are chunked)
  // Prefill tokens per step while other sequences are decoding (0: max_prefill_token_num):
  // a long prompt is then prefilled in chunks beside the decoding rows instead of stalling
  // them for one long step (on a CPU, 8192 prefill tokens are seconds).
  int max_prefill_token_num_decoding = 512;
  int quant_policy = -1;             // KV cache: -1 the model's (config.ini), 0 fp16, 4 / 8 int8, 16 int4
  bool enable_prefix_caching = false;
  int threads = 0;                   // 0: all cores
  std::string device = "cpu";        // cpu | cuda | auto
  int tp = 1;
  std::string numerics = "fast";     // fast | exact (fp32 activations) | llama.cpp (its float ops)
  // Sample on the device where the logits are when the model can (CUDA backend, tp 1): only
  // the token ids come back, except for rows with logprobs or that the device declines.
  // false: every row on the host (the same tokens; for comparisons).
  bool device_sampling = true;
  std::string model_name;            // overrides the model's name (chat template)
  // --chat-template: a .jinja file, a JSON file of lmdeploy's template fields, or a registry
  // name; "" the model's own (src/loader/chat_template_resolver.h has the whole rule).
  std::string chat_template;
};

struct Request {
  int64_t session_id = -1;           // -1: a fresh one-shot session
  std::vector<int32_t> prompt_ids;   // this turn's new tokens
  GenerationConfig gen;
  bool sequence_start = true;        // start the session afresh (forget earlier turns)
  bool sequence_end = true;          // end the session after this request; false keeps
                                     // its KV for the next turn (interactive)
};

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0.0f;
  std::vector<std::pair<int32_t, float>> top;  // top_logprobs alternatives, best first
};

struct Usage {
  int prompt_tokens = 0;      // tokens of this request's prompt
  int completion_tokens = 0;  // tokens generated (a stop token counts)
};

// One chunk of a request's output. The last chunk has finish_reason set.
struct GenerationOutput {
  std::vector<int32_t> token_ids;  // new tokens (stop tokens excluded)
  std::string text;                // new text (held-back stop-string prefixes excluded)
  std::vector<TokenLogprob> logprobs;
  std::string finish_reason;       // "" | "stop" | "length" | "cancelled" | "error"
  std::string error;               // message when finish_reason == "error"
  // The stop token that ended the request (it is in the session's KV; the chat session
  // needs to know which), -1 when none did.
  int32_t stop_token = -1;
  Usage usage;
};

class OutputStream {
 public:
  virtual ~OutputStream() = default;
  // Blocks until the next chunk; nullopt after the last one was returned.
  virtual std::optional<GenerationOutput> next() = 0;
  // Asks the engine to stop this request (finish_reason "cancelled"); idempotent.
  virtual void cancel() = 0;
  // Drains the stream: all chunks merged into one (text/tokens concatenated).
  GenerationOutput collect();
};

struct EngineStats {
  int kv_blocks_total = 0, kv_blocks_free = 0, kv_blocks_active = 0, kv_blocks_cached = 0;
  int kv_block_len = 0;
  uint64_t kv_block_bytes = 0, kv_pool_bytes = 0;
  int running = 0, waiting = 0, sessions = 0;
  int64_t steps = 0;
  int64_t prefill_tokens = 0;          // tokens computed as prefill (not decode)
  int64_t decode_tokens = 0;           // tokens computed one per step
  int64_t session_reused_tokens = 0;   // history tokens a session turn did not recompute
  int64_t prefix_query_tokens = 0, prefix_hit_tokens = 0;
  int64_t preemptions = 0;
  int64_t requests_finished = 0;
  int64_t sampled_on_device = 0;       // tokens chosen by the device sampler (EngineConfig::device_sampling)
  int64_t sampled_on_host = 0;         // tokens chosen by the host sampler (logprobs, declined, CPU)
  double prefix_hit_rate() const {
    return prefix_query_tokens ? double(prefix_hit_tokens) / double(prefix_query_tokens) : 0.0;
  }
};

struct ModelInfo {
  std::string model_name;  // chat template name
  int32_t eos_id = -1;
  int vocab_size = 0;
  int session_len = 0;
};

class Engine {
 public:
  // Loads a model (workspace dir, HF dir, or .gguf) and its tokenizer.
  static std::unique_ptr<Engine> create(const std::string& model_path, const EngineConfig& cfg);
  // From parts already built (tests, embedding); the pool is the model's KV pool.
  // chat_formatter: nullptr -> the registry template named by the model's name ("base" when
  // it names none).
  static std::unique_ptr<Engine> create(std::unique_ptr<Model> model, std::unique_ptr<TextCodec> codec,
                                        const EngineConfig& cfg,
                                        std::shared_ptr<const ChatFormatter> chat_formatter = nullptr);
  virtual ~Engine() = default;

  virtual std::shared_ptr<OutputStream> submit(Request request) = 0;
  // Forgets a session's KV (cancels its in-flight request, if any).
  virtual void end_session(int64_t session_id) = 0;
  virtual EngineStats stats() const = 0;
  virtual const ModelInfo& info() const = 0;

  virtual std::vector<int32_t> encode(const std::string& text, bool add_bos) const = 0;
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;
  // Token id of a special token's text ("<|im_end|>"), or -1.
  virtual int32_t token_id(const std::string& piece) const = 0;
  // How conversations become prompts for this model (resolved once, when it was loaded).
  virtual const ChatFormatter& chat_formatter() const = 0;
};

}  // namespace lmd
