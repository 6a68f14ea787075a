// `lmdeploy serve api_client URL`: the terminal chat of `lmdeploy chat`, over HTTP. Each
// question goes to POST /v1/chat/interactive (interactive_mode, streamed newline-delimited
// JSON) so the server keeps the session's KV between turns. Input ends with an empty line
// (double enter); `exit` quits; `end` ends the session.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>

namespace lmd::serve {

struct ApiClientOptions {
  std::string url;          // http://host:port
  int64_t session_id = 0;
  std::string api_key;      // sent as Authorization: Bearer when not empty
  int request_output_len = 512;
  float temperature = 0.8f, top_p = 0.8f;
  int top_k = 40;
};

// Runs the chat until `exit` or the end of `in`; answers are written to `out` as they
// stream. Returns 0, or throws lmd::Error when the server cannot be reached or refuses.
int run_api_client(const ApiClientOptions& opts, std::istream& in, std::ostream& out);

// One streamed interactive turn; `on_text` gets each piece. Returns the finish reason.
std::string interactive_turn(const ApiClientOptions& opts, const std::string& prompt, bool interactive_mode,
                             const std::function<void(const std::string&)>& on_text);

}  // namespace lmd::serve
