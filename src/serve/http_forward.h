// Relays one HTTP request to an upstream server and streams its answer back as it arrives
// (SSE and newline-delimited JSON pass through chunk by chunk). Used by `serve gradio URL`
// (the web page in front of a remote api_server) and by `serve proxy`.
//
// The upstream call runs on its own thread; the handler waits for the upstream's status
// line, answers with the same status and content type, then a chunked provider drains the
// chunks. A client that goes away aborts the upstream call, which cancels the request there.
#pragma once

#include <functional>
#include <string>

#include <httplib.h>

namespace lmd::serve {

struct ForwardResult {
  bool connected = false;  // false: the upstream could not be reached (nothing was sent back)
  std::string error;
};

// Forwards `in` (method, path, body, Content-Type and Authorization headers) to `base_url`.
// `on_finish` runs once when the relay is over (upstream done, failed or aborted). When the
// upstream cannot be reached, `out` is untouched and connected=false (the caller may retry
// elsewhere); on_finish has then already run.
ForwardResult forward_request(const std::string& base_url, const httplib::Request& in, httplib::Response& out,
                              std::function<void()> on_finish = nullptr);

}  // namespace lmd::serve
