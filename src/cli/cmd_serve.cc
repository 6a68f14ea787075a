// `lmdeploy serve api_server | api_client | gradio | proxy`: flags -> configs, then the
// serve library (src/serve). See docs/serving.md.
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/engine_options.h"
#include "core/error.h"
#include "common/logging.h"
#include "common/paths.h"
#include "lmdeploy/engine.h"
#include "serve/api_client.h"
#include "serve/api_server.h"
#include "serve/gradio_server.h"
#include "serve/proxy_server.h"

namespace {

using lmd::cli::flag;

struct EngineOptions {
  std::string path;
  lmd::EngineConfig engine;
  std::string log_level = "error";
};

// The engine flags (cli/engine_options.h), --instance_num (lmdeploy v0.1's name for the
// batch size) and the log level.
void add_engine_flags(CLI::App* cmd, const std::shared_ptr<EngineOptions>& o) {
  o->engine.max_batch_size = 64;
  lmd::cli::add_engine_options(cmd, o->engine);
  cmd->add_option(flag("instance_num"), o->engine.max_batch_size, "the same as --max-batch-size");
  cmd->add_option(flag("log_level"), o->log_level, "trace | debug | info | warning | error")->capture_default_str();
}

std::unique_ptr<lmd::Engine> make_engine(EngineOptions& o) {
  lmd::set_log_level(o.log_level);
  if (o.path.empty()) o.path = lmd::ensure_default_model();
  return lmd::Engine::create(o.path, o.engine);
}

struct ServerOptions {
  std::string server_name = "0.0.0.0";
  int server_port = 23333;
  lmd::serve::ApiServerConfig api;
};

void add_server_flags(CLI::App* cmd, const std::shared_ptr<ServerOptions>& s) {
  cmd->add_option(flag("server_name"), s->server_name, "address to listen on")->capture_default_str();
  cmd->add_option(flag("server_port"), s->server_port, "port to listen on")->capture_default_str();
  cmd->add_option(flag("api_keys"), s->api.api_keys, "accepted API keys (Authorization: Bearer KEY)");
  cmd->add_option(flag("allow_origins"), s->api.allow_origins, "CORS: allowed origins ('*' for any)");
  cmd->add_flag(flag("allow_credentials"), s->api.allow_credentials, "CORS: allow credentials");
  cmd->add_option(flag("allow_methods"), s->api.allow_methods, "CORS: allowed methods")->capture_default_str();
  cmd->add_option(flag("allow_headers"), s->api.allow_headers, "CORS: allowed headers")->capture_default_str();
  cmd->add_option(flag("max_concurrent_requests"), s->api.max_concurrent_requests,
                  "generation requests served at once; beyond: 429")
      ->capture_default_str();
  cmd->add_option(flag("max_body_bytes"), s->api.max_body_bytes, "largest request body; beyond: 413")
      ->capture_default_str();
}

void run_api_server(EngineOptions& e, ServerOptions& s) {
  auto engine = make_engine(e);
  s.api.model_path = e.path;
  lmd::serve::ApiServer server(*engine, s.api);
  const int port = server.bind(s.server_name, s.server_port);
  std::printf("HINT: Please open http://%s:%d in a browser for detailed api usage!\n", s.server_name.c_str(), port);
  std::printf("api_server serving '%s' on http://%s:%d\n", server.model_name().c_str(), s.server_name.c_str(), port);
  std::fflush(stdout);
  server.listen();
}

struct GradioOptions {
  std::string url_or_path;
  std::string server_name = "0.0.0.0";
  int server_port = 6006;
  std::string restful_api;  // accepted (the seed passes --restful_api True with a URL)
};

void run_gradio(EngineOptions& e, GradioOptions& g) {
  const std::string& target = g.url_or_path;
  if (target.rfind("http://", 0) == 0 || target.rfind("https://", 0) == 0) {
    lmd::serve::WebUiRelay relay(target);
    const int port = relay.bind(g.server_name, g.server_port);
    std::printf("web chat on http://%s:%d (api_server %s)\n", g.server_name.c_str(), port, target.c_str());
    std::fflush(stdout);
    relay.listen();
    return;
  }
  e.path = target;
  auto engine = make_engine(e);
  lmd::serve::ApiServerConfig api;
  api.web_ui = true;
  api.model_path = e.path;
  lmd::serve::ApiServer server(*engine, api);
  const int port = server.bind(g.server_name, g.server_port);
  std::printf("web chat on http://%s:%d (model %s, in-process)\n", g.server_name.c_str(), port, e.path.c_str());
  std::fflush(stdout);
  server.listen();
}

LMD_REGISTER_COMMAND(40, [](CLI::App& root) {
  CLI::App& serve = lmd::cli::command_group(root, "serve", "Serve a model over HTTP (OpenAI API, web demo, proxy)");

  {
    auto e = std::make_shared<EngineOptions>();
    auto s = std::make_shared<ServerOptions>();
    CLI::App* cmd = serve.add_subcommand("api_server", "OpenAI-compatible HTTP server");
    cmd->add_option("model_path", e->path, "workspace, HF directory or .gguf (default: SmolLM2)");
    add_engine_flags(cmd, e);
    add_server_flags(cmd, s);
    cmd->callback([e, s] { run_api_server(*e, *s); });
  }
  {
    auto o = std::make_shared<lmd::serve::ApiClientOptions>();
    CLI::App* cmd = serve.add_subcommand("api_client", "Terminal chat with a running api_server");
    cmd->add_option("api_server_url", o->url, "http://host:port of the api_server")->required();
    cmd->add_option(flag("session_id"), o->session_id, "session id")->capture_default_str();
    cmd->add_option(flag("api_key"), o->api_key, "API key of the server");
    cmd->add_option(flag("request_output_len") + "," + flag("max_new_tokens"), o->request_output_len,
                    "tokens per answer")
        ->capture_default_str();
    cmd->add_option(flag("temperature"), o->temperature, "sampling temperature")->capture_default_str();
    cmd->add_option(flag("top_p"), o->top_p, "nucleus sampling mass")->capture_default_str();
    cmd->add_option(flag("top_k"), o->top_k, "top-k sampling")->capture_default_str();
    cmd->callback([o] { lmd::serve::run_api_client(*o, std::cin, std::cout); });
  }
  {
    auto e = std::make_shared<EngineOptions>();
    auto g = std::make_shared<GradioOptions>();
    CLI::App* cmd = serve.add_subcommand("gradio", "Web chat page, backed by an api_server URL or a model PATH");
    cmd->add_option("url_or_path", g->url_or_path, "http://host:port of an api_server, or a model path")->required();
    cmd->add_option(flag("server_name"), g->server_name, "address to listen on")->capture_default_str();
    cmd->add_option(flag("server_port"), g->server_port, "port to listen on")->capture_default_str();
    cmd->add_option(flag("restful_api"), g->restful_api, "accepted for compatibility (a URL implies it)");
    add_engine_flags(cmd, e);
    cmd->add_option(flag("batch_size"), e->engine.max_batch_size, "sequences decoded together");
    cmd->callback([e, g] { run_gradio(*e, *g); });
  }
  {
    auto cfg = std::make_shared<lmd::serve::ProxyConfig>();
    auto host = std::make_shared<std::string>("0.0.0.0");
    auto port = std::make_shared<int>(8000);
    CLI::App* cmd = serve.add_subcommand("proxy", "Route OpenAI requests across several api_servers");
    cmd->add_option(flag("server_name"), *host, "address to listen on")->capture_default_str();
    cmd->add_option(flag("server_port"), *port, "port to listen on")->capture_default_str();
    cmd->add_option(flag("nodes"), cfg->nodes, "api_server URLs (more: POST /nodes/add)");
    cmd->add_option(flag("health_interval_ms"), cfg->health_interval_ms, "health check period")
        ->capture_default_str();
    cmd->callback([cfg, host, port] {
      lmd::serve::ProxyServer proxy(*cfg);
      const int bound = proxy.bind(*host, *port);
      std::printf("proxy on http://%s:%d over %zu node(s)\n", host->c_str(), bound, cfg->nodes.size());
      std::fflush(stdout);
      proxy.listen();
    });
  }
});

}  // namespace
