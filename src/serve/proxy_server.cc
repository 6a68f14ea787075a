// See proxy_server.h.
#include "serve/proxy_server.h"

#include <algorithm>

#include "core/error.h"
#include "serve/api_error.h"
#include "serve/http_forward.h"
#include "serve/openai_protocol.h"

namespace lmd::serve {
namespace {

std::string trim_slash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

}  // namespace

ProxyServer::ProxyServer(ProxyConfig cfg) : cfg_(std::move(cfg)), http_(std::make_unique<HttpServer>("proxy")) {
  for (const auto& n : cfg_.nodes) add_node(n);
  const size_t workers = static_cast<size_t>(std::max(cfg_.workers, 4));
  http_->new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
  http_->Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"status\":\"ok\"}", "application/json");
  });
  http_->Get("/nodes/status", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(dump(status()), "application/json");
  });
  http_->Post("/nodes/add", [this](const httplib::Request& req, httplib::Response& res) {
    json body = parse_body(req.body);
    if (!body.contains("url") || !body["url"].is_string()) throw bad_field("url", "a node URL string is required");
    add_node(body["url"]);
    res.set_content(dump(status()), "application/json");
  });
  http_->Post("/nodes/remove", [this](const httplib::Request& req, httplib::Response& res) {
    json body = parse_body(req.body);
    if (!body.contains("url") || !body["url"].is_string()) throw bad_field("url", "a node URL string is required");
    if (!remove_node(body["url"])) {
      throw ApiError(404, "no node " + body["url"].get<std::string>(), "url", "node_not_found");
    }
    res.set_content(dump(status()), "application/json");
  });
  auto handler = [this](const httplib::Request& req, httplib::Response& res) { route(req, res); };
  http_->Get("/v1/models", handler);
  http_->Post("/v1/.*", handler);
  http_->Post("/generate", handler);
  http_->Get("/metrics", handler);
}

ProxyServer::~ProxyServer() { stop(); }

int ProxyServer::bind(const std::string& host, int port) { return http_->bind(host, port); }

void ProxyServer::listen() {
  health_ = std::thread([this] { health_loop(); });
  http_->listen_after_bind();
}

void ProxyServer::start() {
  thread_ = std::thread([this] { listen(); });
  while (!http_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void ProxyServer::stop() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  http_->stop();
  if (thread_.joinable()) thread_.join();
  if (health_.joinable()) health_.join();
}

void ProxyServer::add_node(const std::string& url) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string u = trim_slash(url);
  for (const auto& n : nodes_) {
    if (n->url == u) return;
  }
  auto node = std::make_shared<Node>();
  node->url = u;
  nodes_.push_back(node);
}

bool ProxyServer::remove_node(const std::string& url) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string u = trim_slash(url);
  auto it = std::find_if(nodes_.begin(), nodes_.end(), [&](const auto& n) { return n->url == u; });
  if (it == nodes_.end()) return false;
  nodes_.erase(it);
  for (auto s = sticky_.begin(); s != sticky_.end();) s = s->second == u ? sticky_.erase(s) : std::next(s);
  return true;
}

nlohmann::json ProxyServer::status() const {
  std::lock_guard<std::mutex> lock(mu_);
  json nodes = json::array();
  for (const auto& n : nodes_) {
    nodes.push_back({{"url", n->url},
                     {"healthy", n->healthy.load()},
                     {"outstanding", n->outstanding.load()},
                     {"served", n->served.load()}});
  }
  return {{"nodes", nodes}, {"sessions", sticky_.size()}};
}

std::shared_ptr<ProxyServer::Node> ProxyServer::pick(int64_t session_id,
                                                     const std::vector<std::shared_ptr<Node>>& exclude) {
  std::lock_guard<std::mutex> lock(mu_);
  auto excluded = [&](const std::shared_ptr<Node>& n) {
    return std::find(exclude.begin(), exclude.end(), n) != exclude.end();
  };
  if (session_id >= 0) {
    auto s = sticky_.find(session_id);
    if (s != sticky_.end()) {
      for (const auto& n : nodes_) {
        if (n->url == s->second && n->healthy && !excluded(n)) return n;
      }
    }
  }
  std::shared_ptr<Node> best;
  for (const auto& n : nodes_) {
    if (!n->healthy || excluded(n)) continue;
    if (!best || n->outstanding < best->outstanding) best = n;
  }
  if (best && session_id >= 0) sticky_[session_id] = best->url;
  if (best) ++best->outstanding;  // under the lock, so concurrent picks spread out
  return best;
}

void ProxyServer::route(const httplib::Request& req, httplib::Response& res) {
  int64_t session_id = -1;
  if (req.method == "POST") {
    json body = parse_body(req.body);  // 400 here rather than on every node
    auto it = body.find("session_id");
    if (it != body.end() && it->is_number_integer()) session_id = it->get<int64_t>();
  }
  std::vector<std::shared_ptr<Node>> tried;
  std::string last_error = "no healthy node";
  while (auto node = pick(session_id, tried)) {
    tried.push_back(node);
    ForwardResult r = forward_request(node->url, req, res, [node] { --node->outstanding; });
    if (r.connected) {
      ++node->served;
      return;
    }
    node->healthy = false;  // until the health check sees it again
    last_error = node->url + ": " + r.error;
  }
  throw ApiError(503, "no api_server node could take the request (" + last_error + ")", "", "no_node_available",
                 "server_error");
}

void ProxyServer::health_loop() {
  std::unique_lock<std::mutex> lock(stop_mu_);
  while (!stopping_) {
    lock.unlock();
    std::vector<std::shared_ptr<Node>> nodes;
    {
      std::lock_guard<std::mutex> l(mu_);
      nodes = nodes_;
    }
    for (const auto& n : nodes) {
      httplib::Client cli(n->url);
      cli.set_connection_timeout(1, 0);
      cli.set_read_timeout(2, 0);
      auto r = cli.Get("/health");
      n->healthy = r && r->status == 200;
    }
    lock.lock();
    stop_cv_.wait_for(lock, std::chrono::milliseconds(cfg_.health_interval_ms), [this] { return stopping_; });
  }
}

}  // namespace lmd::serve
