// The OpenAI-compatible HTTP server over one Engine (cpp-httplib). Routes, fields and error
// shapes: docs/serving.md. Threads: httplib's pool runs handlers; a streaming response holds
// its worker until the stream ends, so the pool has max_concurrent_requests workers plus a
// few for /health and /metrics while saturated.
//
//   ApiServer server(engine, cfg);
//   int port = server.bind("0.0.0.0", 23333);   // 0: any free port
//   server.listen();                            // blocks until stop()
#pragma once

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "lmdeploy/engine.h"
#include "serve/http_server.h"
#include "serve/server_metrics.h"
#include "serve/session_registry.h"
#include "template/chat_formatter.h"

namespace lmd::serve {

struct ApiServerConfig {
  std::string model_name;                // served name; "" -> the engine's model name
  std::string model_path;                // its basename is accepted as a model name too
  std::vector<std::string> api_keys;     // empty: no authentication
  std::vector<std::string> allow_origins;  // CORS; empty: no CORS headers
  bool allow_credentials = false;
  std::vector<std::string> allow_methods{"*"};
  std::vector<std::string> allow_headers{"*"};
  int max_concurrent_requests = 256;     // generation requests; beyond: 429
  size_t max_body_bytes = 8u << 20;      // beyond: 413
  bool web_ui = false;                   // GET / serves the chat page instead of the API docs
};

class ApiServer {
 public:
  ApiServer(Engine& engine, ApiServerConfig cfg);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Binds host:port (port 0: any free port) and returns the port; lmd::Error on failure.
  int bind(const std::string& host, int port);
  void listen();            // serves until stop()
  void start();             // listen() on a background thread
  void stop();
  int port() const { return port_; }
  const std::string& model_name() const { return model_name_; }
  ServerMetrics& metrics() { return metrics_; }
  httplib::Server& http() { return *http_; }

 private:
  void install_routes();
  bool authorized(const httplib::Request& req) const;
  void check_model(const std::string& requested) const;
  // The chat template's stop words as stop token ids / stop strings.
  void add_template_stops(GenerationConfig& gen) const;
  int max_new_tokens(const std::optional<int>& requested, size_t prompt_len, const char* prompt_field) const;

  void handle_chat(const httplib::Request& req, httplib::Response& res);
  void handle_completions(const httplib::Request& req, httplib::Response& res);
  void handle_interactive(const httplib::Request& req, httplib::Response& res);
  void handle_encode(const httplib::Request& req, httplib::Response& res);
  void handle_models(httplib::Response& res) const;

  Engine& engine_;
  ApiServerConfig cfg_;
  const ChatFormatter& formatter_;  // the engine's: parsed once, rendered per request
  std::string model_name_;
  int session_len_ = 0;
  std::unique_ptr<HttpServer> http_;
  ServerMetrics metrics_;
  SessionRegistry sessions_;
  int port_ = -1;
  std::thread thread_;
};

}  // namespace lmd::serve
