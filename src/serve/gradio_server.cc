// See gradio_server.h.
#include "serve/gradio_server.h"

#include "serve/api_error.h"
#include "serve/http_forward.h"
#include "serve/web_ui.h"

namespace lmd::serve {

WebUiRelay::WebUiRelay(std::string api_url)
    : api_url_(std::move(api_url)), http_(std::make_unique<HttpServer>("gradio")) {
  while (!api_url_.empty() && api_url_.back() == '/') api_url_.pop_back();
  http_->new_task_queue = [] { return new httplib::ThreadPool(64); };
  http_->Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(web_ui_html(), "text/html; charset=utf-8");
  });
  auto relay = [this](const httplib::Request& req, httplib::Response& res) {
    ForwardResult r = forward_request(api_url_, req, res);
    if (!r.connected) {
      send_error(res, ApiError(502, "the api_server at " + api_url_ + " cannot be reached: " + r.error, "",
                               "upstream_unreachable"));
    }
  };
  http_->Get("/v1/.*", relay);
  http_->Post("/v1/.*", relay);
  http_->Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"status\":\"ok\"}", "application/json");
  });
}

WebUiRelay::~WebUiRelay() { stop(); }

int WebUiRelay::bind(const std::string& host, int port) { return http_->bind(host, port); }

void WebUiRelay::listen() { http_->listen_after_bind(); }

void WebUiRelay::start() {
  thread_ = std::thread([this] { listen(); });
  while (!http_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void WebUiRelay::stop() {
  http_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace lmd::serve
