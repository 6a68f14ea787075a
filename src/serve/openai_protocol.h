// JSON <-> request mapping of the OpenAI-compatible routes, apart from the HTTP plumbing.
// Parsing validates every field it reads and throws ApiError (400) naming the field; fields
// it does not know are ignored (OpenAI clients send many). Builders produce the response
// objects of OpenAI's API (chat.completion, chat.completion.chunk, text_completion) and
// lmdeploy's interactive route.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lmdeploy/engine.h"
#include "serve/api_error.h"

namespace lmd::serve {

using nlohmann::json;

// Fields the generation routes share.
struct SamplingRequest {
  std::string model;              // "" when absent
  int n = 1;                      // independent choices
  bool stream = false;
  bool include_usage = false;     // stream_options.include_usage
  std::optional<int> max_tokens;  // max_tokens / max_completion_tokens / request_output_len
  GenerationConfig gen;           // max_new_tokens is set later from max_tokens and the prompt
  bool skip_special_tokens = true;
  int64_t session_id = -1;
};

using ojson = nlohmann::ordered_json;

// What the chat template renders is the client's JSON, unchanged (src/template/chat_formatter.h).
struct ChatCompletionRequest : SamplingRequest {
  ojson messages;         // a list; a string `messages` becomes one user message
  ojson tools;            // null when absent or empty
  ojson template_kwargs;  // chat_template_kwargs: more template variables (null when absent)
};

struct CompletionRequest : SamplingRequest {
  std::vector<std::string> prompts;  // a string prompt becomes one
  bool echo = false;
  int logprobs = 0;  // 0: none; k: the k most likely alternatives too (0..5)
};

struct InteractiveRequest : SamplingRequest {
  std::string prompt;
  bool interactive_mode = false;  // keep the session's KV after this turn
  bool renew_session = false;     // forget the session's history first
  bool cancel = false;            // end the session; generate nothing
};

struct EncodeRequest {
  std::vector<std::string> inputs;
  bool is_list = false;
  bool do_preprocess = false;  // apply the chat template's get_prompt first
  bool add_bos = true;
};

// Each throws ApiError(400, ..., param) on a malformed or out-of-range field.
ChatCompletionRequest parse_chat_completion(const json& body);
// Fills r.messages / r.tools / r.template_kwargs from the body in its key order (after
// parse_chat_completion accepted it).
void read_template_inputs(const std::string& body, ChatCompletionRequest& r);
CompletionRequest parse_completion(const json& body);
InteractiveRequest parse_interactive(const json& body);
EncodeRequest parse_encode(const json& body);

// The body as a JSON object; 400 for invalid UTF-8, malformed JSON or a non-object.
json parse_body(const std::string& body);

// Dumps without throwing on invalid UTF-8 (replaced by U+FFFD).
std::string dump(const json& j);

// ---- responses ----

// One choice's accumulated output.
struct ChoiceOutput {
  std::string text;
  std::vector<int32_t> token_ids;
  std::vector<TokenLogprob> logprobs;
  std::string finish_reason;  // stop | length
};

// Token text as the API shows it (the decoded piece).
using TokenText = std::function<std::string(int32_t)>;

json usage_json(const Usage& u);
// chat `logprobs` object: {"content": [{token, logprob, bytes, top_logprobs}]}
json chat_logprobs_json(const std::vector<TokenLogprob>& lps, const TokenText& text_of);
// completions `logprobs` object: {tokens, token_logprobs, top_logprobs, text_offset}
json completion_logprobs_json(const std::vector<TokenLogprob>& lps, const TokenText& text_of,
                              size_t text_offset0);

json chat_completion_json(const std::string& id, int64_t created, const std::string& model,
                          const std::vector<ChoiceOutput>& choices, bool with_logprobs,
                          const TokenText& text_of, const Usage& usage);
// delta: {"role": "assistant", "content": ""} for the first chunk, {"content": text} after.
json chat_chunk_json(const std::string& id, int64_t created, const std::string& model, int index,
                     const json& delta, const json& logprobs, const std::string& finish_reason);
json completion_json(const std::string& id, int64_t created, const std::string& model,
                     const std::vector<ChoiceOutput>& choices, int logprobs, const TokenText& text_of,
                     const Usage& usage);
json completion_chunk_json(const std::string& id, int64_t created, const std::string& model, int index,
                           const std::string& text, const json& logprobs, const std::string& finish_reason);
// The final usage-only chunk of a stream with stream_options.include_usage.
json usage_chunk_json(const std::string& id, const std::string& object, int64_t created,
                      const std::string& model, const Usage& usage);

}  // namespace lmd::serve
