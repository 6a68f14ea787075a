// See stream_response.h.
#include "serve/stream_response.h"

namespace lmd::serve {

std::string sse_event(const json& j) { return "data: " + dump(j) + "\n\n"; }

void stream_job(httplib::Response& res, std::shared_ptr<GenerationJob> job, StreamFormat format) {
  const std::string content_type = format.content_type;
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      content_type,
      [job, format = std::move(format)](size_t, httplib::DataSink& sink) {
        auto write = [&](const std::string& bytes) {
          if (bytes.empty() || sink.write(bytes.data(), bytes.size())) return true;
          job->cancel();  // the client went away: free its KV now
          return false;
        };
        for (const auto& bytes : format.preamble) {
          if (!write(bytes)) return false;
        }
        while (auto ev = job->next()) {
          if (!write(format.chunk(*ev))) return false;
          if (ev->out.finish_reason == "error") break;
        }
        job->release_slot();
        if (format.trailer) write(format.trailer(job->usage()));
        sink.done();
        return true;
      },
      [job](bool) { job->cancel(); });
}

}  // namespace lmd::serve
