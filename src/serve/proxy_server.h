// `lmdeploy serve proxy`: one OpenAI endpoint in front of several api_servers.
//  - routing: each request goes to the healthy node with the fewest outstanding requests;
//    a request carrying a session_id goes where that session went before (its KV is there);
//  - failover: a node that cannot be reached is marked unhealthy and the request is retried
//    on another node (a node that dies mid-stream ends that stream; others are unaffected);
//  - health: a background thread GETs /health on every node every `health_interval_ms`;
//  - admin: POST /nodes/add {"url"}, POST /nodes/remove {"url"}, GET /nodes/status.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "serve/http_server.h"

namespace lmd::serve {

struct ProxyConfig {
  std::vector<std::string> nodes;  // http://host:port of api_servers
  int health_interval_ms = 2000;
  int workers = 264;               // concurrent client connections
};

class ProxyServer {
 public:
  explicit ProxyServer(ProxyConfig cfg);
  ~ProxyServer();
  ProxyServer(const ProxyServer&) = delete;
  ProxyServer& operator=(const ProxyServer&) = delete;

  int bind(const std::string& host, int port);  // 0: any port; returns the port
  void listen();
  void start();
  void stop();

  void add_node(const std::string& url);
  bool remove_node(const std::string& url);
  nlohmann::json status() const;

 private:
  struct Node {
    std::string url;
    std::atomic<int> outstanding{0};
    std::atomic<bool> healthy{true};
    std::atomic<int64_t> served{0};
  };
  std::shared_ptr<Node> pick(int64_t session_id, const std::vector<std::shared_ptr<Node>>& exclude);
  void route(const httplib::Request& req, httplib::Response& res);
  void health_loop();

  ProxyConfig cfg_;
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<Node>> nodes_;
  std::map<int64_t, std::string> sticky_;  // session_id -> node url
  std::unique_ptr<HttpServer> http_;
  std::thread thread_, health_;
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
};

}  // namespace lmd::serve
