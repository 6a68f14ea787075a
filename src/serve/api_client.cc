// See api_client.h.
#include "serve/api_client.h"

#include <httplib.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace lmd::serve {
namespace {

bool read_input(std::istream& in, std::ostream& out, std::string* text) {
  out << "\ndouble enter to end input >>> " << std::flush;
  text->clear();
  std::string line;
  bool any = false;
  while (std::getline(in, line)) {
    any = true;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) {
      if (text->empty()) continue;
      return true;
    }
    if (!text->empty()) *text += "\n";
    *text += line;
  }
  return any && !text->empty();
}

}  // namespace

std::string interactive_turn(const ApiClientOptions& o, const std::string& prompt, bool interactive_mode,
                             const std::function<void(const std::string&)>& on_text) {
  httplib::Client cli(o.url);
  cli.set_read_timeout(600, 0);
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/chat/interactive";
  nlohmann::json body = {{"prompt", prompt},
                         {"session_id", o.session_id},
                         {"interactive_mode", interactive_mode},
                         {"stream", true},
                         {"request_output_len", o.request_output_len},
                         {"temperature", o.temperature},
                         {"top_p", o.top_p},
                         {"top_k", o.top_k}};
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  if (!o.api_key.empty()) req.set_header("Authorization", "Bearer " + o.api_key);
  std::string pending, finish, error_body;
  int status = 0;
  req.response_handler = [&](const httplib::Response& r) {
    status = r.status;
    return true;
  };
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    if (status != 200) {
      error_body.append(data, n);
      return true;
    }
    pending.append(data, n);
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      auto j = nlohmann::json::parse(pending.substr(0, nl), nullptr, false);
      pending.erase(0, nl + 1);
      if (j.is_discarded()) continue;
      if (j.contains("text") && j["text"].is_string()) on_text(j["text"].get<std::string>());
      if (j.contains("finish_reason") && j["finish_reason"].is_string()) finish = j["finish_reason"];
      if (j.contains("error")) throw lmd::Error("api_client: server error: " + j["error"].dump());
    }
    return true;
  };
  auto res = cli.send(req);
  if (!res) {
    throw lmd::Error("api_client: cannot reach " + o.url + ": " + httplib::to_string(res.error()));
  }
  if (status != 200) {
    if (error_body.empty()) error_body = res->body;
    throw lmd::Error("api_client: " + o.url + " answered " + std::to_string(status) + ": " + error_body);
  }
  return finish;
}

int run_api_client(const ApiClientOptions& o, std::istream& in, std::ostream& out) {
  out << "session " << o.session_id << "\n";
  std::string q;
  while (read_input(in, out, &q)) {
    if (q == "exit") break;
    if (q == "end") {
      interactive_turn(o, "", /*interactive_mode=*/false, [](const std::string&) {});
      out << "(session " << o.session_id << " ended)\n";
      continue;
    }
    interactive_turn(o, q, /*interactive_mode=*/true, [&](const std::string& t) { out << t << std::flush; });
    out << "\n";
  }
  return 0;
}

}  // namespace lmd::serve
