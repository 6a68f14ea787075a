// /v1/chat/completions renders `messages` (and `tools`) with the engine's chat template: the
// prompt ids the engine receives spell exactly what Python jinja2 renders for the same
// messages (tests/data/templates/golden.jsonl, tools/gen_template_golden_jinja.py), for every
// template x conversation with add_generation_prompt. The FakeEngine encodes one token per
// byte and adds no BOS for a Jinja template, so its recorded ids decode to the exact text.
// A template that raises (raise_exception, a type error) answers 400 with its message and
// the server keeps serving.
#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "fake_engine.h"
#include "serve/api_server.h"
#include "template/chat_formatter.h"

namespace lmd::serve {
namespace {

using nlohmann::ordered_json;
using testing::FakeEngine;

const std::string kDataDir = std::string(LMD_TEST_DATA_DIR) + "/templates/";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct JinjaServer {
  explicit JinjaServer(std::shared_ptr<const ChatFormatter> f) : engine(std::move(f)), server(engine, {}) {
    port = server.bind("127.0.0.1", 0);
    server.start();
  }
  ~JinjaServer() { server.stop(); }
  httplib::Result post(const ordered_json& body) {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(20, 0);
    return c.Post("/v1/chat/completions", body.dump(), "application/json");
  }
  FakeEngine engine;
  ApiServer server;
  int port = 0;
};

std::shared_ptr<const ChatFormatter> formatter_for(const std::string& name, const ordered_json& context,
                                                   int64_t now) {
  ordered_json special = ordered_json::object();
  for (const char* key : {"bos_token", "eos_token"}) {
    if (context.contains(key)) special[key] = context[key];
  }
  JinjaOptions opts;
  opts.now_epoch_seconds = now;
  return make_jinja_formatter(read_file(kDataDir + name), name, special, {}, opts);
}

TEST(ChatTemplateRoute, EnginePromptEqualsJinja2ForEveryGoldenConversation) {
  std::ifstream in(kDataDir + "golden.jsonl");
  ASSERT_TRUE(in.good());
  std::string line;
  std::getline(in, line);
  const auto header = nlohmann::json::parse(line);
  ASSERT_EQ(header["generated_by"], "tools/gen_template_golden_jinja.py");
  const int64_t now = header["now_epoch_seconds"].get<int64_t>();

  std::map<std::string, std::unique_ptr<JinjaServer>> servers;  // one per template: parsed once
  int rendered = 0, refused = 0;
  while (std::getline(in, line)) {
    const auto row = ordered_json::parse(line);
    const ordered_json& ctx = row["context"];
    if (!ctx["add_generation_prompt"].get<bool>()) continue;  // the route always adds it
    const std::string name = row["template"].get<std::string>();
    auto& server = servers[name];
    if (!server) server = std::make_unique<JinjaServer>(formatter_for(name, ctx, now));
    ordered_json body = {{"messages", ctx["messages"]}, {"max_tokens", 1}};
    if (ctx.contains("tools")) body["tools"] = ctx["tools"];
    const std::string where = name + " x " + row["conversation"].get<std::string>();
    const size_t before = server->engine.requests().size();
    auto res = server->post(body);
    ASSERT_TRUE(res) << where;
    if (row.contains("output")) {
      ASSERT_EQ(res->status, 200) << where << ": " << res->body;
      const auto requests = server->engine.requests();
      ASSERT_EQ(requests.size(), before + 1) << where;
      EXPECT_EQ(server->engine.decode(requests.back().prompt_ids), row["output"].get<std::string>()) << where;
      EXPECT_EQ(requests.back().prompt_ids.size(), row["output"].get<std::string>().size()) << where << ": no BOS added";
      ++rendered;
    } else {
      EXPECT_EQ(res->status, 400) << where << ": jinja2 raised " << row["error"] << "; got " << res->body;
      EXPECT_EQ(server->engine.requests().size(), before) << where << ": nothing reaches the engine";
      ++refused;
    }
  }
  EXPECT_GT(rendered, 90);
  EXPECT_GT(refused, 0);
}

TEST(ChatTemplateRoute, RaiseExceptionIs400WithItsMessageAndTheServerKeepsServing) {
  const std::string tpl =
      "{% for m in messages %}{% if m['role'] == 'system' %}"
      "{{ raise_exception('System role not supported') }}{% endif %}"
      "{{ '<u>' + m['content'] + '</u>' }}{% endfor %}{% if add_generation_prompt %}<a>{% endif %}";
  JinjaServer s(make_jinja_formatter(tpl, "no-system.jinja", ordered_json::object(), {"</u>"}));
  auto bad = s.post({{"messages", {{{"role", "system"}, {"content", "x"}}, {{"role", "user"}, {"content", "hi"}}}}});
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  const auto err = nlohmann::json::parse(bad->body);
  EXPECT_NE(err["error"]["message"].get<std::string>().find("System role not supported"), std::string::npos)
      << bad->body;
  EXPECT_NE(err["error"]["message"].get<std::string>().find("no-system.jinja"), std::string::npos) << bad->body;

  auto good = s.post({{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"max_tokens", 2}});
  ASSERT_TRUE(good);
  EXPECT_EQ(good->status, 200) << good->body;
  EXPECT_EQ(s.engine.decode(s.engine.requests().back().prompt_ids), "<u>hi</u><a>");
}

TEST(ChatTemplateRoute, SyntaxErrorAndLimitsAre400) {
  // A template's runaway loop hits the interpreter's bound: the client's request, 400.
  JinjaOptions opts;
  opts.max_loop_iterations = 1000;
  JinjaServer s(make_jinja_formatter("{% for i in range(100000) %}x{% endfor %}", "loop.jinja",
                                     ordered_json::object(), {}, opts));
  auto res = s.post({{"messages", {{{"role", "user"}, {"content", "hi"}}}}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400) << res->body;
  EXPECT_THROW(make_jinja_formatter("{% for %}", "bad.jinja", ordered_json::object(), {}), Error);
}

TEST(ChatTemplateRoute, MessagesAndToolsReachTheTemplateUnchanged) {
  // Key order, tool_calls, tool_call_id, name, reasoning_content and typed parts as the client sent them.
  JinjaServer s(make_jinja_formatter("{{ messages | tojson }}|{{ tools | tojson }}", "dump.jinja",
                                     ordered_json::object(), {}));
  // Written as Python's json.dumps prints them (transformers' tojson).
  const std::string messages =
      R"([{"role": "user", "content": [{"type": "text", "text": "hi"}], "name": "bob"}, )"
      R"({"role": "assistant", "content": null, "reasoning_content": "r", "tool_calls": [{"id": "c1", )"
      R"("type": "function", "function": {"name": "f", "arguments": {"z": 1, "a": 2}}}]}, )"
      R"({"role": "tool", "tool_call_id": "c1", "content": "3"}])";
  const std::string tools = R"([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}])";
  httplib::Client c("127.0.0.1", s.port);
  auto res = c.Post("/v1/chat/completions", "{\"messages\": " + messages + ", \"tools\": " + tools + "}",
                    "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(s.engine.decode(s.engine.requests().back().prompt_ids), messages + "|" + tools);
}

}  // namespace
}  // namespace lmd::serve
