// `serve api_client` against a real ApiServer (FakeEngine) on loopback: double-enter input,
// streamed answers, `end` ends the session, `exit` quits.
#include <gtest/gtest.h>

#include <sstream>

#include "core/error.h"
#include "fake_engine.h"
#include "serve/api_client.h"
#include "serve/api_server.h"

namespace lmd::serve {
namespace {

TEST(ApiClient, ChatsOverInteractiveRoute) {
  testing::FakeEngine engine;
  ApiServer server(engine, {});
  const int port = server.bind("127.0.0.1", 0);
  server.start();
  ApiClientOptions o;
  o.url = "http://127.0.0.1:" + std::to_string(port);
  o.session_id = 9;
  o.request_output_len = 5;
  std::istringstream in("\nhello\n\nagain\nand more\n\nend\n\nexit\n\n");
  std::ostringstream out;
  EXPECT_EQ(run_api_client(o, in, out), 0);
  const std::string text = out.str();
  EXPECT_NE(text.find("session 9"), std::string::npos) << text;
  EXPECT_NE(text.find(">>> The q\n"), std::string::npos) << text;  // streamed answer of turn 1
  EXPECT_NE(text.find("(session 9 ended)"), std::string::npos) << text;
  auto reqs = engine.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_TRUE(reqs[0].sequence_start);
  EXPECT_FALSE(reqs[1].sequence_start);  // the second turn continues the session
  EXPECT_EQ(reqs[1].prompt_ids, engine.encode("again\nand more", false));
  EXPECT_EQ(engine.ended(), std::vector<int64_t>{9});
  server.stop();
}

TEST(ApiClient, UnreachableServerIsAnError) {
  ApiClientOptions o;
  o.url = "http://127.0.0.1:1";
  EXPECT_THROW(interactive_turn(o, "x", true, [](const std::string&) {}), lmd::Error);
}

}  // namespace
}  // namespace lmd::serve
