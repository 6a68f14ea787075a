// `serve proxy` over two real ApiServers (FakeEngines) on loopback: spreading, session
// stickiness, a node going away mid-run, node admin routes; and the gradio relay.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "fake_engine.h"
#include "serve/api_server.h"
#include "serve/gradio_server.h"
#include "serve/proxy_server.h"

namespace lmd::serve {
namespace {

using nlohmann::json;

struct Node {
  Node() : server(engine, {}) {
    port = server.bind("127.0.0.1", 0);
    server.start();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }
  testing::FakeEngine engine;
  ApiServer server;
  int port = 0;
};

json chat(int max_tokens, bool stream = false) {
  return {{"messages", "hi"}, {"max_tokens", max_tokens}, {"temperature", 0}, {"stream", stream}};
}

TEST(ProxyServer, SpreadsLoadAndSurvivesANodeGoingAway) {
  Node a, b;
  a.engine.token_delay_ms = 5;
  b.engine.token_delay_ms = 5;
  ProxyConfig cfg;
  cfg.nodes = {a.url(), b.url()};
  cfg.health_interval_ms = 100;
  ProxyServer proxy(cfg);
  const int port = proxy.bind("127.0.0.1", 0);
  proxy.start();

  std::atomic<int> ok{0}, failed{0};
  auto run = [&](int count, bool stream) {
    std::vector<std::thread> threads;
    for (int i = 0; i < count; ++i) {
      threads.emplace_back([&, stream] {
        httplib::Client c("127.0.0.1", port);
        c.set_read_timeout(30, 0);
        auto r = c.Post("/v1/chat/completions", chat(10, stream).dump(), "application/json");
        bool good = r && r->status == 200 &&
                    (stream ? r->body.find("data: [DONE]") != std::string::npos
                            : json::parse(r->body)["choices"][0]["message"]["content"] == "The quick ");
        if (!good) ADD_FAILURE() << (r ? std::to_string(r->status) + " " + r->body.substr(0, 300) : httplib::to_string(r.error()));
        (good ? ok : failed)++;
      });
    }
    return threads;
  };
  auto first = run(32, true);
  for (auto& t : first) t.join();
  EXPECT_EQ(ok, 32);
  const size_t on_a = a.engine.requests().size(), on_b = b.engine.requests().size();
  EXPECT_EQ(on_a + on_b, 32u);
  EXPECT_GE(on_a, 8u) << "least-outstanding routing should use both nodes";
  EXPECT_GE(on_b, 8u);

  // Node b goes away while a second batch runs: requests in flight on b finish or fail
  // cleanly; new ones are retried on a; nothing hangs.
  ok = 0;
  failed = 0;
  auto second = run(32, false);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  b.server.stop();
  for (auto& t : second) t.join();
  EXPECT_EQ(ok + failed, 32);
  EXPECT_GE(ok, 24) << "failed: " << failed;
  // After the failure, everything goes to a.
  httplib::Client c("127.0.0.1", port);
  for (int i = 0; i < 4; ++i) {
    auto r = c.Post("/v1/chat/completions", chat(3).dump(), "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
  }
  json st = json::parse(c.Get("/nodes/status")->body);
  ASSERT_EQ(st["nodes"].size(), 2u);
  EXPECT_FALSE(st["nodes"][1]["healthy"].get<bool>());
  proxy.stop();
}

TEST(ProxyServer, SessionsStickAndNodesCanBeAddedAndRemoved) {
  Node a, b;
  ProxyConfig cfg;
  cfg.nodes = {a.url()};
  ProxyServer proxy(cfg);
  const int port = proxy.bind("127.0.0.1", 0);
  proxy.start();
  httplib::Client c("127.0.0.1", port);
  json turn = {{"prompt", "hello"}, {"session_id", 5}, {"interactive_mode", true}, {"request_output_len", 2}};
  ASSERT_EQ(c.Post("/v1/chat/interactive", turn.dump(), "application/json")->status, 200);
  auto r = c.Post("/nodes/add", json{{"url", b.url()}}.dump(), "application/json");
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["nodes"].size(), 2u);
  // b is idle, but session 5 holds KV on a: its next turns stay there.
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(c.Post("/v1/chat/interactive", turn.dump(), "application/json")->status, 200);
  }
  EXPECT_EQ(a.engine.requests().size(), 4u);
  EXPECT_EQ(b.engine.requests().size(), 0u);
  EXPECT_FALSE(a.engine.requests()[3].sequence_start);
  ASSERT_EQ(c.Post("/nodes/remove", json{{"url", a.url()}}.dump(), "application/json")->status, 200);
  EXPECT_EQ(c.Post("/nodes/remove", json{{"url", a.url()}}.dump(), "application/json")->status, 404);
  ASSERT_EQ(c.Post("/v1/chat/completions", chat(2).dump(), "application/json")->status, 200);
  EXPECT_EQ(b.engine.requests().size(), 1u);
  EXPECT_EQ(c.Get("/v1/models")->status, 200);
  // Malformed bodies are refused by the proxy itself.
  EXPECT_EQ(c.Post("/v1/chat/completions", "{", "application/json")->status, 400);
  proxy.stop();
}

TEST(ProxyServer, NoNodeGives503) {
  ProxyServer proxy(ProxyConfig{});
  const int port = proxy.bind("127.0.0.1", 0);
  proxy.start();
  httplib::Client c("127.0.0.1", port);
  auto r = c.Post("/v1/chat/completions", chat(2).dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_TRUE(json::parse(r->body).contains("error"));
  proxy.stop();
}

TEST(WebUiRelay, ServesThePageAndRelaysStreams) {
  Node a;
  WebUiRelay relay(a.url());
  const int port = relay.bind("127.0.0.1", 0);
  relay.start();
  httplib::Client c("127.0.0.1", port);
  auto page = c.Get("/");
  ASSERT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("id=\"stop\""), std::string::npos);
  EXPECT_EQ(page->body.find("http://"), std::string::npos) << "the page must not load anything external";
  auto r = c.Post("/v1/chat/completions", chat(4, true).dump(), "application/json");
  ASSERT_EQ(r->status, 200);
  EXPECT_NE(r->get_header_value("Content-Type").find("text/event-stream"), std::string::npos);
  EXPECT_NE(r->body.find("\"content\":\"T\""), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("data: [DONE]\n\n"), std::string::npos);
  // Errors of the api_server pass through with their status.
  r = c.Post("/v1/chat/completions", json{{"messages", "x"}, {"top_p", 3}}.dump(), "application/json");
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(json::parse(r->body)["error"]["param"], "top_p");
  relay.stop();
  // In-process mode: the ApiServer itself serves the page.
  ApiServerConfig cfg;
  cfg.web_ui = true;
  testing::FakeEngine engine;
  ApiServer local(engine, cfg);
  const int lp = local.bind("127.0.0.1", 0);
  local.start();
  EXPECT_NE(httplib::Client("127.0.0.1", lp).Get("/")->body.find("lmdeploy chat"), std::string::npos);
  local.stop();
}

}  // namespace
}  // namespace lmd::serve
