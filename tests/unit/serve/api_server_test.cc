// The api_server over HTTP on loopback, with a FakeEngine (fake_engine.h): every route,
// SSE framing, bad requests (each followed by a good one), API keys, 429, disconnect.
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "serve/api_server.h"
#include "template/chat_template.h"
#include "fake_engine.h"

namespace lmd::serve {
namespace {

using nlohmann::json;
using testing::FakeEngine;
using testing::kReply;

struct Server {
  explicit Server(ApiServerConfig cfg = {}) : server(engine, cfg) {
    port = server.bind("127.0.0.1", 0);
    server.start();
  }
  ~Server() { server.stop(); }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(20, 0);
    return c;
  }
  httplib::Result post(const std::string& path, const json& body, httplib::Headers h = {}) const {
    return client().Post(path.c_str(), h, body.dump(), "application/json");
  }
  FakeEngine engine;
  ApiServer server;
  int port = 0;
};

// The `data:` payloads of an SSE body; checks the framing (every event ends with a blank line).
std::vector<std::string> sse_events(const std::string& body) {
  std::vector<std::string> events;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t end = body.find("\n\n", pos);
    EXPECT_NE(end, std::string::npos) << "unterminated SSE event at " << pos;
    if (end == std::string::npos) break;
    std::string ev = body.substr(pos, end - pos);
    EXPECT_EQ(ev.rfind("data: ", 0), 0u) << ev;
    events.push_back(ev.substr(6));
    pos = end + 2;
  }
  return events;
}

json chat_body(int max_tokens = 5) {
  return {{"model", "fake-model"}, {"messages", json::array({{{"role", "user"}, {"content", "hi"}}})},
          {"max_tokens", max_tokens}, {"temperature", 0}};
}

void expect_good_chat(const Server& s) {
  auto r = s.post("/v1/chat/completions", chat_body());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["choices"][0]["message"]["content"], kReply.substr(0, 5));
}

TEST(ApiServer, ModelsHealthDocs) {
  Server s;
  auto r = s.client().Get("/v1/models");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  json j = json::parse(r->body);
  EXPECT_EQ(j["object"], "list");
  EXPECT_EQ(j["data"][0]["id"], "fake-model");
  EXPECT_EQ(s.client().Get("/health")->status, 200);
  auto doc = s.client().Get("/");
  EXPECT_NE(doc->body.find("/v1/chat/completions"), std::string::npos);
  json api = json::parse(s.client().Get("/openapi.json")->body);
  EXPECT_TRUE(api["paths"].contains("/v1/chat/interactive"));
}

TEST(ApiServer, ChatNonStreamed) {
  Server s;
  auto r = s.post("/v1/chat/completions", chat_body(5));
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["id"].get<std::string>().rfind("chatcmpl-", 0), 0u);
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "The q");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  const std::string prompt = get_template("base").messages2prompt({{"user", "hi"}});
  EXPECT_EQ(j["usage"]["prompt_tokens"], s.engine.encode(prompt, true).size());
  EXPECT_EQ(j["usage"]["completion_tokens"], 5);
  EXPECT_EQ(j["usage"]["total_tokens"], 5 + s.engine.encode(prompt, true).size());
  // The request reached the engine as asked: greedy, 5 tokens, one-shot session.
  auto reqs = s.engine.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].gen.temperature, 0.0f);
  EXPECT_EQ(reqs[0].gen.max_new_tokens, 5);
  EXPECT_TRUE(reqs[0].sequence_start && reqs[0].sequence_end);
}

TEST(ApiServer, ChatSeedExampleAndFinishStop) {
  Server s;
  // The seed tutorial's request, verbatim fields (messages as a string, stop: false).
  json body = {{"model", "fake-model"}, {"messages", "hello"}, {"temperature", 0.7}, {"top_p", 1}, {"n", 1},
               {"max_tokens", 512}, {"stop", false}, {"stream", false}, {"presence_penalty", 0},
               {"frequency_penalty", 0}, {"user", "string"}, {"repetition_penalty", 1},
               {"renew_session", false}, {"ignore_eos", false}};
  auto r = s.post("/v1/chat/completions", body);
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  EXPECT_EQ(j["choices"][0]["message"]["content"], kReply);
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(j["usage"]["completion_tokens"], kReply.size() + 1);
}

TEST(ApiServer, ChatStreamedSseFraming) {
  Server s;
  json body = chat_body(7);
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  auto r = s.post("/v1/chat/completions", body);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_NE(r->get_header_value("Content-Type").find("text/event-stream"), std::string::npos);
  auto events = sse_events(r->body);
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events.back(), "[DONE]");
  json first = json::parse(events[0]);
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  std::string text, finish;
  json usage;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    json c = json::parse(events[i]);
    if (c.contains("usage") && !c["usage"].is_null()) usage = c["usage"];
    if (c["choices"].empty()) continue;
    EXPECT_EQ(c["id"], first["id"]);
    const json& ch = c["choices"][0];
    if (ch["delta"].contains("content")) text += ch["delta"]["content"].get<std::string>();
    if (!ch["finish_reason"].is_null()) finish = ch["finish_reason"];
  }
  EXPECT_EQ(text, kReply.substr(0, 7));
  EXPECT_EQ(finish, "length");
  EXPECT_EQ(usage["completion_tokens"], 7);
}

TEST(ApiServer, MultiTokenStopStringNonStreamedAndStreamed) {
  Server s;
  json body = chat_body(40);
  body["stop"] = json::array({"brown fox", "never"});
  json j = json::parse(s.post("/v1/chat/completions", body)->body);
  EXPECT_EQ(j["choices"][0]["message"]["content"], "The quick ");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(s.engine.requests()[0].gen.stop_strings, (std::vector<std::string>{"brown fox", "never"}));
  body["stream"] = true;
  std::string text;
  for (const auto& ev : sse_events(s.post("/v1/chat/completions", body)->body)) {
    if (ev == "[DONE]") break;
    json c = json::parse(ev);
    if (c["choices"][0]["delta"].contains("content")) text += c["choices"][0]["delta"]["content"].get<std::string>();
  }
  EXPECT_EQ(text, "The quick ");
}

TEST(ApiServer, NTwoGivesTwoChoicesWithDistinctSeeds) {
  Server s;
  json body = chat_body(6);
  body["n"] = 2;
  body["temperature"] = 1.0;
  body["seed"] = 3;
  json j = json::parse(s.post("/v1/chat/completions", body)->body);
  ASSERT_EQ(j["choices"].size(), 2u);
  EXPECT_EQ(j["choices"][0]["index"], 0);
  EXPECT_EQ(j["choices"][1]["index"], 1);
  EXPECT_EQ(j["choices"][0]["message"]["content"], kReply.substr(3, 6));
  EXPECT_EQ(j["choices"][1]["message"]["content"], kReply.substr(4, 6));
  EXPECT_EQ(j["usage"]["completion_tokens"], 12);
  auto reqs = s.engine.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_NE(reqs[0].session_id, reqs[1].session_id);
  // Streamed n=2: both choices complete, chunks tagged by index.
  body["stream"] = true;
  std::string texts[2];
  for (const auto& ev : sse_events(s.post("/v1/chat/completions", body)->body)) {
    if (ev == "[DONE]") break;
    json c = json::parse(ev);
    int idx = c["choices"][0]["index"];
    if (c["choices"][0]["delta"].contains("content")) texts[idx] += c["choices"][0]["delta"]["content"].get<std::string>();
  }
  EXPECT_EQ(texts[0], kReply.substr(3, 6));
  EXPECT_EQ(texts[1], kReply.substr(4, 6));
}

TEST(ApiServer, ChatLogprobs) {
  Server s;
  json body = chat_body(3);
  body["logprobs"] = true;
  body["top_logprobs"] = 2;
  json j = json::parse(s.post("/v1/chat/completions", body)->body);
  const json& content = j["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 3u);
  EXPECT_EQ(content[0]["token"], "T");
  EXPECT_FLOAT_EQ(content[1]["logprob"].get<float>(), -0.5f);
  ASSERT_EQ(content[1]["top_logprobs"].size(), 2u);
  EXPECT_EQ(content[1]["top_logprobs"][1]["token"], "i");  // 'h' + 1
  EXPECT_EQ(content[0]["bytes"], json::array({int('T')}));
}

TEST(ApiServer, CompletionsEchoListAndDefaults) {
  Server s;
  json body = {{"prompt", json::array({"ab", "cd"})}, {"echo", true}, {"temperature", 0}, {"logprobs", 1}};
  auto r = s.post("/v1/completions", body);
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  EXPECT_EQ(j["object"], "text_completion");
  ASSERT_EQ(j["choices"].size(), 2u);
  EXPECT_EQ(j["choices"][0]["text"], "ab" + kReply.substr(0, 16));  // max_tokens defaults to 16
  EXPECT_EQ(j["choices"][1]["text"], "cd" + kReply.substr(0, 16));
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["choices"][0]["logprobs"]["tokens"].size(), 16u);
  EXPECT_EQ(j["usage"]["prompt_tokens"], 6);  // bos + 2 bytes, twice
  body["stream"] = true;
  body["prompt"] = "x";
  body["echo"] = false;
  body["max_tokens"] = 4;
  std::string text;
  for (const auto& ev : sse_events(s.post("/v1/completions", body)->body)) {
    if (ev == "[DONE]") break;
    text += json::parse(ev)["choices"][0]["text"].get<std::string>();
  }
  EXPECT_EQ(text, "The ");
}

struct BadCase {
  const char* name;
  std::string body;
  int status;
  const char* param;  // "" when none
};

TEST(ApiServer, BadRequestsGetOpenAiErrorsAndServerStaysUsable) {
  Server s;
  auto chat = [](json patch) {
    json b = chat_body();
    for (auto& [k, v] : patch.items()) {
      if (v.is_null()) b.erase(k); else b[k] = v;
    }
    return b.dump();
  };
  const std::vector<BadCase> cases = {
      {"malformed JSON", "{\"messages\": [", 400, ""},
      {"not an object", "[1,2]", 400, ""},
      {"invalid UTF-8", std::string("{\"messages\": \"\xff\xfe\"}"), 400, ""},
      {"missing messages", chat({{"messages", nullptr}}), 400, "messages"},
      {"messages wrong type", chat({{"messages", 5}}), 400, "messages"},
      {"empty messages", chat({{"messages", json::array()}}), 400, "messages"},
      {"bad role", chat({{"messages", json::array({{{"role", "wizard"}, {"content", "x"}}})}}), 400,
       "messages[0].role"},
      {"unknown model", chat({{"model", "gpt-17"}}), 404, "model"},
      {"negative max_tokens", chat({{"max_tokens", -1}}), 400, "max_tokens"},
      {"huge max_tokens", chat({{"max_tokens", 100000000}}), 400, "max_tokens"},
      {"max_tokens as string", chat({{"max_tokens", "10"}}), 400, "max_tokens"},
      {"temperature < 0", chat({{"temperature", -0.5}}), 400, "temperature"},
      {"top_p > 1", chat({{"top_p", 1.5}}), 400, "top_p"},
      {"top_p = 0", chat({{"top_p", 0}}), 400, "top_p"},
      {"n = 0", chat({{"n", 0}}), 400, "n"},
      {"stream not bool", chat({{"stream", "yes"}}), 400, "stream"},
      {"stop wrong type", chat({{"stop", 3}}), 400, "stop"},
      {"top_logprobs without logprobs", chat({{"top_logprobs", 3}}), 400, "top_logprobs"},
      {"response_format json", chat({{"response_format", {{"type", "json_object"}}}}), 400, "response_format"},
      {"tools", chat({{"tools", json::array({{{"type", "function"}}})}}), 400, "tools"},
  };
  for (const auto& c : cases) {
    auto r = s.client().Post("/v1/chat/completions", c.body, "application/json");
    ASSERT_TRUE(r) << c.name;
    EXPECT_EQ(r->status, c.status) << c.name << ": " << r->body;
    json j = json::parse(r->body, nullptr, false);
    ASSERT_TRUE(j.contains("error")) << c.name << ": " << r->body;
    EXPECT_TRUE(j["error"]["message"].is_string()) << c.name;
    EXPECT_TRUE(j["error"]["type"].is_string()) << c.name;
    if (*c.param) {
      EXPECT_EQ(j["error"]["param"], c.param) << c.name << ": " << r->body;
    }
    expect_good_chat(s);
  }
  // Completions-specific and other routes.
  auto r = s.post("/v1/completions", {{"prompt", "x"}, {"suffix", "y"}});
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(json::parse(r->body)["error"]["param"], "suffix");
  r = s.post("/v1/completions", {{"max_tokens", 3}});
  EXPECT_EQ(json::parse(r->body)["error"]["param"], "prompt");
  r = s.post("/v1/encode", {{"input", 7}});
  EXPECT_EQ(json::parse(r->body)["error"]["param"], "input");
  r = s.client().Get("/v1/nothing");
  EXPECT_EQ(r->status, 404);
  EXPECT_TRUE(json::parse(r->body).contains("error"));
  expect_good_chat(s);
  EXPECT_EQ(s.engine.running(), 0);
}

TEST(ApiServer, BodyOverSizeLimitIs413) {
  ApiServerConfig cfg;
  cfg.max_body_bytes = 1024;
  Server s(cfg);
  json body = chat_body();
  body["messages"] = std::string(4096, 'a');
  auto r = s.post("/v1/chat/completions", body);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_TRUE(json::parse(r->body).contains("error")) << r->body;
  expect_good_chat(s);
}

TEST(ApiServer, ApiKeys) {
  ApiServerConfig cfg;
  cfg.api_keys = {"key-one", "key-two"};
  Server s(cfg);
  auto r = s.post("/v1/chat/completions", chat_body());
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(json::parse(r->body)["error"]["code"], "invalid_api_key");
  r = s.post("/v1/chat/completions", chat_body(), {{"Authorization", "Bearer key-on"}});
  EXPECT_EQ(r->status, 401);
  r = s.post("/v1/chat/completions", chat_body(), {{"Authorization", "Bearer key-one-"}});
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(s.client().Get("/v1/models")->status, 401);
  EXPECT_EQ(s.client().Get("/health")->status, 200);
  r = s.post("/v1/chat/completions", chat_body(), {{"Authorization", "Bearer key-two"}});
  EXPECT_EQ(r->status, 200) << r->body;
}

TEST(ApiServer, Cors) {
  ApiServerConfig cfg;
  cfg.allow_origins = {"http://app.example"};
  cfg.allow_credentials = true;
  Server s(cfg);
  auto r = s.client().Get("/v1/models", {{"Origin", "http://app.example"}});
  EXPECT_EQ(r->get_header_value("Access-Control-Allow-Origin"), "http://app.example");
  EXPECT_EQ(r->get_header_value("Access-Control-Allow-Credentials"), "true");
  r = s.client().Get("/v1/models", {{"Origin", "http://evil.example"}});
  EXPECT_FALSE(r->has_header("Access-Control-Allow-Origin"));
  r = s.client().Options("/v1/chat/completions", {{"Origin", "http://app.example"}});
  EXPECT_EQ(r->status, 204);
  EXPECT_EQ(r->get_header_value("Access-Control-Allow-Methods"), "*");
}

TEST(ApiServer, ConcurrencyLimitGives429) {
  ApiServerConfig cfg;
  cfg.max_concurrent_requests = 1;
  Server s(cfg);
  s.engine.token_delay_ms = 20;
  std::thread slow([&] { s.post("/v1/chat/completions", chat_body(20)); });
  while (s.engine.running() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  auto r = s.post("/v1/chat/completions", chat_body());
  EXPECT_EQ(r->status, 429);
  EXPECT_EQ(json::parse(r->body)["error"]["type"], "rate_limit_error");
  slow.join();
  s.engine.token_delay_ms = 0;
  expect_good_chat(s);
}

double metric_value(const std::string& text, const std::string& name) {
  size_t pos = text.find("\n" + name + " ");
  if (pos == std::string::npos) return -1;
  return std::stod(text.substr(pos + name.size() + 2));
}

TEST(ApiServer, ClientDisconnectCancelsAndFreesKv) {
  Server s;
  s.engine.token_delay_ms = 5;
  s.engine.endless = true;
  json body = chat_body(4000);
  body["stream"] = true;
  httplib::Client c = s.client();
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/chat/completions";
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  int chunks = 0;
  req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return ++chunks < 4; };
  auto r = c.send(req);
  EXPECT_FALSE(r);  // we aborted the read
  const std::string mid = s.client().Get("/metrics")->body;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (s.engine.cancelled() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(s.engine.cancelled(), 1);
  while (s.engine.running() != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const std::string after = s.client().Get("/metrics")->body;
  EXPECT_EQ(metric_value(after, "lmdeploy_kv_blocks_active"), 0.0) << after;
  EXPECT_EQ(metric_value(after, "lmdeploy_kv_cache_usage_ratio"), 0.0);
  EXPECT_EQ(metric_value(after, "lmdeploy_http_requests_in_flight"), 0.0);
  s.engine.endless = false;
  s.engine.token_delay_ms = 0;
  expect_good_chat(s);
}

TEST(ApiServer, InteractiveSessionKeepsHistory) {
  Server s;
  json turn = {{"prompt", "hello"}, {"session_id", 7}, {"interactive_mode", true}, {"request_output_len", 4},
               {"temperature", 0}};
  auto r = s.post("/v1/chat/interactive", turn);
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  EXPECT_EQ(j["text"], "The ");
  EXPECT_EQ(j["tokens"], 4);
  EXPECT_EQ(j["history_tokens"], 0);
  EXPECT_EQ(j["finish_reason"], "length");
  turn["prompt"] = "again";
  turn["stream"] = true;
  r = s.post("/v1/chat/interactive", turn);
  ASSERT_EQ(r->status, 200) << r->body;
  // newline-delimited JSON: one object per line, the last has finish_reason.
  std::vector<json> lines;
  size_t pos = 0;
  while (pos < r->body.size()) {
    size_t nl = r->body.find('\n', pos);
    ASSERT_NE(nl, std::string::npos);
    lines.push_back(json::parse(r->body.substr(pos, nl - pos)));
    pos = nl + 1;
  }
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back()["finish_reason"], "length");
  EXPECT_EQ(lines.back()["tokens"], 4);
  EXPECT_EQ(lines.back()["history_tokens"], 6 + 4);  // bos + "hello" + 4 generated
  auto reqs = s.engine.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].session_id, 7);
  EXPECT_TRUE(reqs[0].sequence_start);
  EXPECT_FALSE(reqs[0].sequence_end);
  EXPECT_FALSE(reqs[1].sequence_start);
  EXPECT_EQ(reqs[1].prompt_ids, s.engine.encode("again", false));  // only the new turn's tokens
  EXPECT_EQ(s.engine.stats().session_reused_tokens, 10);
  // Renewing starts afresh; ending (interactive_mode false) lets the engine drop the session.
  turn = {{"prompt", "x"}, {"session_id", 7}, {"renew_session", true}, {"request_output_len", 2}};
  r = s.post("/v1/chat/interactive", turn);
  ASSERT_EQ(r->status, 200) << r->body;
  reqs = s.engine.requests();
  EXPECT_TRUE(reqs.back().sequence_start);
  EXPECT_TRUE(reqs.back().sequence_end);
  EXPECT_EQ(s.engine.ended(), std::vector<int64_t>{7});
  r = s.post("/v1/chat/interactive", {{"session_id", 7}, {"cancel", true}});
  EXPECT_EQ(json::parse(r->body)["finish_reason"], "cancelled");
}

TEST(ApiServer, Encode) {
  Server s;
  json j = json::parse(s.post("/v1/encode", {{"input", "ab"}})->body);
  EXPECT_EQ(j["input_ids"], json::array({1, 'a' + 3, 'b' + 3}));
  EXPECT_EQ(j["length"], 3);
  j = json::parse(s.post("/v1/encode", {{"input", json::array({"a", "bc"})}, {"add_bos", false}})->body);
  EXPECT_EQ(j["input_ids"], json::array({json::array({'a' + 3}), json::array({'b' + 3, 'c' + 3})}));
  EXPECT_EQ(j["length"], json::array({1, 2}));
}

TEST(ApiServer, MetricsCountRequests) {
  Server s;
  expect_good_chat(s);
  const std::string m = s.client().Get("/metrics")->body;
  for (const char* name : {"lmdeploy_time_to_first_token_seconds_count", "lmdeploy_time_per_output_token_seconds_count",
                           "lmdeploy_num_requests_running", "lmdeploy_num_requests_waiting",
                           "lmdeploy_kv_cache_usage_ratio", "lmdeploy_prefix_cache_hit_rate"}) {
    EXPECT_GE(metric_value(m, name), 0.0) << name << " missing:\n" << m;
  }
  EXPECT_EQ(metric_value(m, "lmdeploy_time_to_first_token_seconds_count"), 1.0);
  EXPECT_EQ(metric_value(m, "lmdeploy_generation_tokens_total"), 5.0);
  EXPECT_NE(m.find("lmdeploy_time_to_first_token_seconds_bucket{le=\"+Inf\"} 1"), std::string::npos);
}

}  // namespace
}  // namespace lmd::serve
