// HTTP plumbing of the api_server: binding, worker pool, API keys, CORS, error bodies, and the
// routes that are not generation (models, health, metrics, docs). Generation routes are in
// generation_routes.cc; JSON mapping in openai_protocol.cc.
#include "serve/api_server.h"

#include <ctime>
#include <filesystem>

#include "core/error.h"
#include "serve/api_docs.h"
#include "serve/api_error.h"
#include "serve/openai_protocol.h"
#include "serve/web_ui.h"

namespace lmd::serve {
namespace {

// Compares without an early exit, so the time taken does not reveal how much of a key
// matched. Every configured key is compared.
bool constant_time_contains(const std::vector<std::string>& keys, const std::string& given) {
  unsigned char found = 0;
  for (const auto& key : keys) {
    unsigned char diff = key.size() == given.size() ? 0 : 1;
    for (size_t i = 0; i < key.size(); ++i) {
      diff |= static_cast<unsigned char>(key[i] ^ (i < given.size() ? given[i] : 0));
    }
    found |= static_cast<unsigned char>(diff == 0);
  }
  return found != 0;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

ApiServer::ApiServer(Engine& engine, ApiServerConfig cfg)
    : engine_(engine),
      cfg_(std::move(cfg)),
      formatter_(engine.chat_formatter()),
      http_(std::make_unique<HttpServer>("api_server", [this](int status) { metrics_.record_http_error(status); })) {
  const ModelInfo& info = engine_.info();
  model_name_ = cfg_.model_name.empty() ? info.model_name : cfg_.model_name;
  session_len_ = info.session_len;
  LMD_CHECK(cfg_.max_concurrent_requests > 0)
      << "--max-concurrent-requests must be > 0, got " << cfg_.max_concurrent_requests;
  const size_t workers = static_cast<size_t>(cfg_.max_concurrent_requests) + 8;
  http_->new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
  http_->set_payload_max_length(cfg_.max_body_bytes);
  install_routes();
}

ApiServer::~ApiServer() { stop(); }

int ApiServer::bind(const std::string& host, int port) {
  port_ = http_->bind(host, port);
  return port_;
}

void ApiServer::listen() { http_->listen_after_bind(); }

void ApiServer::start() {
  thread_ = std::thread([this] { listen(); });
  while (!http_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void ApiServer::stop() {
  http_->stop();
  if (thread_.joinable()) thread_.join();
}

bool ApiServer::authorized(const httplib::Request& req) const {
  if (cfg_.api_keys.empty()) return true;
  const std::string auth = req.get_header_value("Authorization");
  const std::string prefix = "Bearer ";
  if (auth.compare(0, prefix.size(), prefix) != 0) return false;
  return constant_time_contains(cfg_.api_keys, auth.substr(prefix.size()));
}

void ApiServer::check_model(const std::string& requested) const {
  if (requested.empty() || requested == model_name_) return;
  if (!cfg_.model_path.empty() && requested == std::filesystem::path(cfg_.model_path).filename().string()) return;
  throw ApiError(404, "The model '" + requested + "' does not exist; this server serves '" + model_name_ + "'",
                 "model", "model_not_found");
}

void ApiServer::add_template_stops(GenerationConfig& gen) const {
  if (gen.ignore_eos) return;
  for (const auto& word : formatter_.stop_words()) {
    int32_t id = engine_.token_id(word);
    if (id >= 0) {
      gen.stop_token_ids.push_back(id);
    } else {
      gen.stop_strings.push_back(word);
    }
  }
}

int ApiServer::max_new_tokens(const std::optional<int>& requested, size_t prompt_len, const char* prompt_field) const {
  if (session_len_ <= 0) return requested.value_or(512);
  if (prompt_len >= static_cast<size_t>(session_len_)) {
    throw ApiError(400, std::string("'") + prompt_field + "' is " + std::to_string(prompt_len) +
                            " tokens, which does not fit the session length " + std::to_string(session_len_),
                   prompt_field, "context_length_exceeded");
  }
  const int room = session_len_ - static_cast<int>(prompt_len);
  if (!requested) return room;
  if (*requested > session_len_) {
    throw bad_field("max_tokens", "must be <= the session length " + std::to_string(session_len_) + ", got " +
                                      std::to_string(*requested));
  }
  return std::min(*requested, room);
}

void ApiServer::handle_models(httplib::Response& res) const {
  json card = {{"id", model_name_},         {"object", "model"}, {"created", int64_t(std::time(nullptr))},
               {"owned_by", "lmdeploy"},    {"root", model_name_}, {"parent", nullptr},
               {"max_model_len", session_len_}, {"permission", json::array()}};
  res.set_content(dump({{"object", "list"}, {"data", json::array({card})}}), "application/json");
}

void ApiServer::install_routes() {
  httplib::Server& s = *http_;

  // CORS preflight and API keys run before routing; /health and the static pages stay open.
  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (req.method == "OPTIONS" && !cfg_.allow_origins.empty()) {
      res.status = 204;
      return httplib::Server::HandlerResponse::Handled;
    }
    const bool open = req.path == "/health" || req.path == "/" || req.path == "/openapi.json";
    if (!open && !authorized(req)) {
      metrics_.record_http_error(401);
      send_error(res, ApiError(401, "Incorrect or missing API key: send 'Authorization: Bearer <key>'", "",
                               "invalid_api_key"));
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  s.set_post_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (cfg_.allow_origins.empty()) return;
    const std::string origin = req.get_header_value("Origin");
    bool any = false, listed = false;
    for (const auto& o : cfg_.allow_origins) {
      any = any || o == "*";
      listed = listed || o == origin;
    }
    if (!any && !listed) return;
    // With credentials the browser rejects "*": echo the origin instead.
    res.set_header("Access-Control-Allow-Origin", any && !cfg_.allow_credentials ? "*" : origin);
    if (cfg_.allow_credentials) res.set_header("Access-Control-Allow-Credentials", "true");
    res.set_header("Access-Control-Allow-Methods", join(cfg_.allow_methods));
    res.set_header("Access-Control-Allow-Headers", join(cfg_.allow_headers));
    res.set_header("Vary", "Origin");
  });

  // Errors httplib produces itself (no route, body too large, unparsable request) get an
  // OpenAI-shaped body too.
  s.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    metrics_.record_http_error(res.status);
    if (res.status == 404) {
      send_error(res, ApiError(404, "no route " + req.method + " " + req.path, "", "not_found"));
    } else if (res.status == 413) {
      send_error(res, ApiError(413, "request body is larger than the limit of " + std::to_string(cfg_.max_body_bytes) +
                                        " bytes", "", "payload_too_large"));
    } else if (res.status >= 400) {
      send_error(res, ApiError(res.status, "the HTTP request could not be processed (status " +
                                                 std::to_string(res.status) + ")"));
    }
  });

  s.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"status\":\"ok\"}", "application/json");
  });
  s.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) { handle_models(res); });
  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_.render(engine_.stats()), "text/plain; version=0.0.4");
  });
  s.Get("/", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(cfg_.web_ui ? web_ui_html() : api_docs_html(), "text/html; charset=utf-8");
  });
  s.Get("/openapi.json", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(dump(openapi_schema(model_name_)), "application/json");
  });
  s.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) { handle_chat(req, res); });
  s.Post("/v1/completions",
         [this](const httplib::Request& req, httplib::Response& res) { handle_completions(req, res); });
  s.Post("/v1/chat/interactive",
         [this](const httplib::Request& req, httplib::Response& res) { handle_interactive(req, res); });
  s.Post("/generate", [this](const httplib::Request& req, httplib::Response& res) { handle_interactive(req, res); });
  s.Post("/v1/encode", [this](const httplib::Request& req, httplib::Response& res) { handle_encode(req, res); });
}

}  // namespace lmd::serve
