// A GenerationJob answered as a chunked HTTP response, written once for every generation
// route: the OpenAI routes' Server-Sent Events and the interactive route's JSON lines differ
// only in the StreamFormat they pass.
//
// The provider writes the preamble, then the bytes format.chunk() gives for each chunk as it
// arrives. A chunk with finish_reason "error" is written and ends the stream (the other
// choices are cancelled). After the last chunk: format.trailer(job usage), then the end of
// the response. A client that goes away (a failed write, or the connection closed) cancels
// every unfinished choice at once, so its KV is freed.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <httplib.h>

#include "serve/generation_job.h"

namespace lmd::serve {

struct StreamFormat {
  std::string content_type;             // "text/event-stream" | "application/x-ndjson"
  std::vector<std::string> preamble;    // written before the first chunk
  // The bytes for one chunk ("" writes nothing). Runs after the job has read the chunk (so
  // after the last one the concurrency slot is already free) and before they are written.
  std::function<std::string(const ChoiceEvent&)> chunk;
  std::function<std::string(const Usage&)> trailer;  // null: none
};

// Sets `res` to stream `job` in `format` (the handler returns; httplib runs the provider).
void stream_job(httplib::Response& res, std::shared_ptr<GenerationJob> job, StreamFormat format);

// One Server-Sent Event: "data: <json>\n\n".
std::string sse_event(const json& j);
// The event that ends an OpenAI stream.
inline const char* sse_done() { return "data: [DONE]\n\n"; }

}  // namespace lmd::serve
