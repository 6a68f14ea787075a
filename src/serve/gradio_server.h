// `lmdeploy serve gradio URL`: the web chat page (web_ui.h) in front of a running
// api_server. GET / serves the page; /v1/* is relayed to the api_server (streams pass
// through). With a model PATH instead, the command runs an in-process ApiServer with
// web_ui=true, which serves the same page over its own /v1 routes.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "serve/http_server.h"

namespace lmd::serve {

class WebUiRelay {
 public:
  explicit WebUiRelay(std::string api_url);
  ~WebUiRelay();
  int bind(const std::string& host, int port);  // 0: any port
  void listen();
  void start();
  void stop();

 private:
  std::string api_url_;
  std::unique_ptr<HttpServer> http_;
  std::thread thread_;
};

}  // namespace lmd::serve
