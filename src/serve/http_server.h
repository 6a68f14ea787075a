// The httplib::Server every server here (api_server, gradio relay, proxy) is built on:
//  * errors: an exception a route handler lets escape becomes that route's error answer
//    through the one mapping in api_error.h (ApiError as thrown, lmd::Error by its kind,
//    anything else 500, logged); `on_error` sees the status of each (the api_server counts
//    them in /metrics);
//  * a listen backlog fit for many concurrent clients. Debian's compiled cpp-httplib listens
//    with a backlog of 5 (CPPHTTPLIB_LISTEN_BACKLOG): 32 clients connecting at once overflow
//    it and some see their connection dropped. Linux lets listen() be called again on a
//    listening socket to change the backlog, which bind() here does.
#pragma once

#include <sys/socket.h>

#include <functional>
#include <string>

#include <httplib.h>

#include "common/logging.h"
#include "core/error.h"
#include "serve/api_error.h"

namespace lmd::serve {

class HttpServer : public httplib::Server {
 public:
  // `who` names the server in messages ("api_server", "proxy", ...).
  explicit HttpServer(std::string who, std::function<void(int status)> on_error = nullptr)
      : who_(std::move(who)), on_error_(std::move(on_error)) {
    set_exception_handler([this](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
      const ApiError e = api_error_from(ep);
      if (e.status() >= 500) LMD_LOG_ERROR("{}: {} {}: {}", who_, req.method, req.path, e.what());
      if (on_error_) on_error_(e.status());
      send_error(res, e);
    });
  }

  // Binds host:port (0: any free port), raises the backlog, returns the port.
  int bind(const std::string& host, int port) {
    int bound = port;
    if (port == 0) {
      bound = bind_to_any_port(host);
      LMD_CHECK(bound > 0) << who_ << ": cannot bind " << host << " on any port";
    } else {
      LMD_CHECK(bind_to_port(host, port)) << who_ << ": cannot bind " << host << ":" << port
                                          << " (in use, or not an address of this machine)";
    }
    ::listen(svr_sock_, SOMAXCONN);
    return bound;
  }

 private:
  std::string who_;
  std::function<void(int)> on_error_;
};

}  // namespace lmd::serve
