// The API documentation page and the OpenAPI schema. See api_docs.h.
#include "serve/api_docs.h"

#include <utility>
#include <vector>

namespace lmd::serve {
namespace {

using nlohmann::json;

struct RouteDoc {
  const char* method;
  const char* path;
  const char* summary;
  const char* fields;  // request fields, for the HTML page
};

const std::vector<RouteDoc>& routes() {
  static const std::vector<RouteDoc> r = {
      {"GET", "/v1/models", "The served model (OpenAI model list).", ""},
      {"POST", "/v1/chat/completions", "Chat completion (OpenAI); SSE stream when stream=true.",
       "model, messages (string or [{role, content}]), temperature 0.7, top_p 1.0, top_k 40, min_p, n 1, "
       "max_tokens / max_completion_tokens, stop (false | string | [string]), stream, stream_options.include_usage, "
       "presence_penalty, frequency_penalty, repetition_penalty, ignore_eos, seed, logprobs, top_logprobs, "
       "skip_special_tokens, session_id, user, renew_session, response_format ({type: text})"},
      {"POST", "/v1/completions", "Text completion (OpenAI); SSE stream when stream=true.",
       "model, prompt (string or [string]), max_tokens 16, echo, logprobs (0..5), stop, n, stream, temperature, "
       "top_p, top_k, seed, ... (suffix is not supported: 400)"},
      {"POST", "/v1/chat/interactive",
       "Stateful chat (lmdeploy): the session's KV stays between calls; newline-delimited JSON stream.",
       "prompt, session_id, interactive_mode, renew_session, cancel, stream, stop, request_output_len, "
       "temperature 0.8, top_p 0.8, top_k 40, repetition_penalty, ignore_eos, seed"},
      {"POST", "/v1/encode", "Token ids of a text.", "input (string or [string]), do_preprocess false, add_bos true"},
      {"GET", "/health", "200 when the server is up (no API key needed).", ""},
      {"GET", "/metrics", "Prometheus metrics: TTFT/TPOT histograms, running/waiting, KV usage, prefix hits.", ""},
      {"GET", "/openapi.json", "This API as an OpenAPI 3 schema.", ""},
  };
  return r;
}

std::string escape_html(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace

const std::string& api_docs_html() {
  static const std::string page = [] {
    std::string h =
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>lmdeploy api_server</title><style>"
        "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}"
        "code,pre{background:#f3f3f3;padding:.1rem .3rem;border-radius:3px}"
        ".route{border:1px solid #ddd;border-radius:6px;padding:.6rem 1rem;margin:.8rem 0}"
        ".m{display:inline-block;min-width:4rem;font-weight:bold;color:#fff;border-radius:3px;text-align:center;"
        "margin-right:.6rem}.GET{background:#2b7bb9}.POST{background:#3c9a3c}"
        "</style></head><body><h1>lmdeploy api_server</h1>"
        "<p>An OpenAI-compatible API. Point the official <code>openai</code> client at "
        "<code>http://HOST:PORT/v1</code>. The schema is at <a href=\"/openapi.json\">/openapi.json</a>. "
        "Errors are <code>{\"error\": {\"message\", \"type\", \"param\", \"code\"}}</code>; "
        "with <code>--api-keys</code> send <code>Authorization: Bearer KEY</code>.</p>";
    for (const auto& r : routes()) {
      h += "<div class=\"route\"><span class=\"m " + std::string(r.method) + "\">" + r.method + "</span><code>" +
           r.path + "</code><p>" + escape_html(r.summary) + "</p>";
      if (*r.fields) h += "<p><b>Fields:</b> " + escape_html(r.fields) + "</p>";
      h += "</div>";
    }
    h += "<h2>Example</h2><pre>curl http://localhost:23333/v1/chat/completions -H 'Content-Type: application/json' "
         "-d '{\"model\": \"MODEL\", \"messages\": \"Hello\", \"max_tokens\": 32}'</pre></body></html>";
    return h;
  }();
  return page;
}

json openapi_schema(const std::string& model_name) {
  json paths = json::object();
  for (const auto& r : routes()) {
    std::string method = r.method == std::string("GET") ? "get" : "post";
    json op = {{"summary", r.summary},
               {"responses",
                {{"200", {{"description", "OK"}}},
                 {"400", {{"description", "invalid request (OpenAI error object)"}}},
                 {"401", {{"description", "missing or wrong API key"}}}}}};
    if (method == "post") {
      op["requestBody"] = {{"required", true},
                           {"description", r.fields},
                           {"content", {{"application/json", {{"schema", {{"type", "object"}}}}}}}};
    }
    paths[r.path][method] = op;
  }
  return {{"openapi", "3.0.2"},
          {"info", {{"title", "lmdeploy api_server"}, {"version", "0.1.0"}, {"description", "model: " + model_name}}},
          {"components",
           {{"securitySchemes", {{"bearer", {{"type", "http"}, {"scheme", "bearer"}}}}}}},
          {"paths", paths}};
}

}  // namespace lmd::serve
