// See http_forward.h.
#include "serve/http_forward.h"

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

namespace lmd::serve {
namespace {

struct Relay {
  std::mutex mu;
  std::condition_variable cv;
  bool have_status = false, done = false;
  int status = 0;
  std::string content_type;
  std::deque<std::string> chunks;
  bool aborted = false;
  std::string error;
  std::function<void()> on_finish;
};

}  // namespace

ForwardResult forward_request(const std::string& base_url, const httplib::Request& in, httplib::Response& out,
                              std::function<void()> on_finish) {
  auto relay = std::make_shared<Relay>();
  relay->on_finish = std::move(on_finish);
  httplib::Request up;
  up.method = in.method;
  up.path = in.target.empty() ? in.path : in.target;
  up.body = in.body;
  for (const char* h : {"Content-Type", "Authorization", "Accept"}) {
    if (in.has_header(h)) up.set_header(h, in.get_header_value(h));
  }
  std::thread([relay, base_url, up]() mutable {
    httplib::Client cli(base_url);
    cli.set_connection_timeout(3, 0);
    cli.set_read_timeout(600, 0);
    up.response_handler = [relay](const httplib::Response& r) {
      std::lock_guard<std::mutex> lock(relay->mu);
      relay->status = r.status;
      relay->content_type = r.get_header_value("Content-Type");
      relay->have_status = true;
      relay->cv.notify_all();
      return !relay->aborted;
    };
    up.content_receiver = [relay](const char* data, size_t n, uint64_t, uint64_t) {
      std::lock_guard<std::mutex> lock(relay->mu);
      relay->chunks.emplace_back(data, n);
      relay->cv.notify_all();
      return !relay->aborted;
    };
    auto res = cli.send(up);
    std::function<void()> finish;
    {
      std::lock_guard<std::mutex> lock(relay->mu);
      if (!res) relay->error = httplib::to_string(res.error());
      relay->done = true;
      finish = std::move(relay->on_finish);
      relay->cv.notify_all();
    }
    if (finish) finish();
  }).detach();

  std::unique_lock<std::mutex> lock(relay->mu);
  relay->cv.wait(lock, [&] { return relay->have_status || relay->done; });
  if (!relay->have_status) return {false, relay->error.empty() ? "no response" : relay->error};
  out.status = relay->status;
  const std::string type = relay->content_type.empty() ? "application/octet-stream" : relay->content_type;
  lock.unlock();
  out.set_chunked_content_provider(
      type,
      [relay](size_t, httplib::DataSink& sink) {
        std::unique_lock<std::mutex> l(relay->mu);
        while (true) {
          relay->cv.wait(l, [&] { return !relay->chunks.empty() || relay->done; });
          while (!relay->chunks.empty()) {
            std::string c = std::move(relay->chunks.front());
            relay->chunks.pop_front();
            l.unlock();
            const bool ok = sink.write(c.data(), c.size());
            l.lock();
            if (!ok) {
              relay->aborted = true;  // the client left: the upstream read stops, which cancels there
              return false;
            }
          }
          if (relay->done) break;
        }
        l.unlock();
        sink.done();
        return true;
      },
      [relay](bool) {
        std::lock_guard<std::mutex> l(relay->mu);
        relay->aborted = true;
      });
  return {true, ""};
}

}  // namespace lmd::serve
