// The one mapping of an escaped exception to an HTTP status (serve/api_error.h), through a
// real api_server on loopback: the FakeEngine's submit() throws each lmd::Error kind, and
// each answer must carry its status, OpenAI error type and code, a Retry-After where a
// retry makes sense, and leave the server usable.
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>
#include <ostream>
#include <stdexcept>

#include "core/error.h"
#include "fake_engine.h"
#include "serve/api_error.h"
#include "serve/api_server.h"

namespace lmd::serve {
namespace {

using nlohmann::json;

struct Expected {
  Error::Kind kind;
  int status;
  const char* type;
  const char* code;
};

void PrintTo(const Expected& e, std::ostream* os) { *os << e.status << " " << e.code; }

class ErrorStatus : public ::testing::TestWithParam<Expected> {};

json chat_body(bool stream) {
  return {{"messages", "hi"}, {"max_tokens", 4}, {"temperature", 0}, {"stream", stream}};
}

json completion_body(bool stream) { return {{"prompt", "hi"}, {"max_tokens", 4}, {"stream", stream}}; }

TEST_P(ErrorStatus, EscapedLmdErrorGetsTheStatusOfItsKind) {
  const Expected want = GetParam();
  testing::FakeEngine engine;
  ApiServer server(engine, {});
  const int port = server.bind("127.0.0.1", 0);
  server.start();
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(20, 0);

  engine.fail_submit = [&] { throw Error("fake engine refuses the request", want.kind); };
  for (bool stream : {false, true}) {
    for (const auto& [path, body] : {std::pair{"/v1/chat/completions", chat_body(stream)},
                                     std::pair{"/v1/completions", completion_body(stream)}}) {
      auto r = client.Post(path, body.dump(), "application/json");
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, want.status) << path << " stream=" << stream << ": " << r->body;
      const json err = json::parse(r->body)["error"];
      EXPECT_EQ(err["type"], want.type);
      EXPECT_EQ(err["code"], want.code);
      EXPECT_NE(err["message"].get<std::string>().find("fake engine refuses the request"), std::string::npos);
      EXPECT_EQ(r->has_header("Retry-After"), want.status == 429) << path;
    }
  }
  auto interactive = client.Post("/v1/chat/interactive", json{{"prompt", "hi"}, {"request_output_len", 4}}.dump(),
                                 "application/json");
  ASSERT_TRUE(interactive);
  EXPECT_EQ(interactive->status, want.status) << interactive->body;

  // The refused requests gave their concurrency slots back, and /metrics counted them.
  engine.fail_submit = nullptr;
  auto ok = client.Post("/v1/chat/completions", chat_body(false).dump(), "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
  EXPECT_EQ(server.metrics().in_flight.load(), 0);
  const std::string metrics = client.Get("/metrics")->body;
  const std::string cls = want.status >= 500 ? "5xx" : "4xx";
  EXPECT_NE(metrics.find("lmdeploy_http_errors_total{class=\"" + cls + "\"} 5"), std::string::npos) << metrics;
  server.stop();
}

INSTANTIATE_TEST_SUITE_P(
    Kinds, ErrorStatus,
    ::testing::Values(Expected{Error::Kind::kInvalidArgument, 400, "invalid_request_error", "invalid_value"},
                      Expected{Error::Kind::kUnsupported, 400, "invalid_request_error", "unsupported_value"},
                      Expected{Error::Kind::kNotFound, 404, "not_found_error", "not_found"},
                      Expected{Error::Kind::kResourceExhausted, 429, "rate_limit_error", "resource_exhausted"},
                      Expected{Error::Kind::kInternal, 500, "server_error", "internal_error"}),
    [](const ::testing::TestParamInfo<Expected>& info) {
      return std::to_string(info.param.status) + "_" + info.param.code;
    });

TEST(ErrorStatusOther, AnExceptionThatIsNoLmdErrorIsA500) {
  testing::FakeEngine engine;
  ApiServer server(engine, {});
  const int port = server.bind("127.0.0.1", 0);
  server.start();
  engine.fail_submit = [] { throw std::runtime_error("boom"); };
  httplib::Client client("127.0.0.1", port);
  auto r = client.Post("/v1/chat/completions", chat_body(false).dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(json::parse(r->body)["error"]["message"], "internal error: boom");
  EXPECT_FALSE(r->has_header("Retry-After"));
  server.stop();
}

TEST(ErrorStatusOther, Only429And503CarryRetryAfter) {
  for (int status : {400, 404, 429, 500, 502, 503}) {
    httplib::Response res;
    send_error(res, ApiError(status, "no"));
    EXPECT_EQ(res.status, status);
    EXPECT_EQ(res.get_header_value("Retry-After"), status == 429 || status == 503 ? "1" : "") << status;
    EXPECT_EQ(json::parse(res.body)["error"]["type"], ApiError::default_type(status));
  }
}

}  // namespace
}  // namespace lmd::serve
