// The generation routes of the api_server: /v1/chat/completions, /v1/completions,
// /v1/chat/interactive and /v1/encode. Each parses its body (openai_protocol.h), builds
// engine Requests, and answers either with one JSON object or with a stream (SSE for the
// OpenAI routes, newline-delimited JSON for the interactive one).
#include <chrono>
#include <ctime>
#include <random>

#include "core/error.h"
#include "serve/api_error.h"
#include "serve/api_server.h"
#include "serve/generation_job.h"
#include "serve/openai_protocol.h"
#include "serve/stream_response.h"

namespace lmd::serve {
namespace {

std::string random_id(const char* prefix) {
  static thread_local std::mt19937_64 rng(std::random_device{}() ^
                                          uint64_t(std::chrono::steady_clock::now().time_since_epoch().count()));
  char buf[24];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return std::string(prefix) + buf;
}

int64_t now_s() { return static_cast<int64_t>(std::time(nullptr)); }

// Holds a slot of --max-concurrent-requests; beyond the limit: 429.
void acquire_slot(ServerMetrics& m, int limit) {
  if (++m.in_flight > limit) {
    --m.in_flight;
    throw ApiError(429, "too many concurrent requests (limit " + std::to_string(limit) + "); retry later", "",
                   "rate_limit_exceeded");
  }
}

void validate_gen(const GenerationConfig& gen) {
  try {
    validate(gen);
  } catch (const lmd::Error& e) {
    throw ApiError(400, e.what(), "", "invalid_value");
  }
}

// The end of an OpenAI stream: the usage chunk (stream_options.include_usage), then [DONE].
std::function<std::string(const Usage&)> openai_trailer(const std::string& id, const char* object, int64_t created,
                                                        const std::string& model, bool include_usage) {
  return [=](const Usage& usage) {
    return (include_usage ? sse_event(usage_chunk_json(id, object, created, model, usage)) : "") + sse_done();
  };
}

// n requests of one prompt; choice i gets seed + i so the choices differ but repeat.
std::vector<Request> fan_out(const std::vector<int32_t>& ids, const GenerationConfig& gen, int n,
                             SessionRegistry& sessions, int64_t session_id) {
  std::vector<Request> reqs(n);
  for (int i = 0; i < n; ++i) {
    reqs[i].prompt_ids = ids;
    reqs[i].gen = gen;
    if (gen.seed) reqs[i].gen.seed = *gen.seed + uint64_t(i);
    reqs[i].session_id = (n == 1 && session_id >= 0) ? session_id : sessions.next_auto_id();
  }
  return reqs;
}

}  // namespace

void ApiServer::handle_chat(const httplib::Request& req, httplib::Response& res) {
  ChatCompletionRequest r = parse_chat_completion(parse_body(req.body));
  read_template_inputs(req.body, r);
  check_model(r.model);
  if (!r.tools.is_null() && formatter_.registry_template()) {
    throw ApiError(400, "'tools': the chat template '" + formatter_.registry_template()->model_name +
                            "' cannot render tools (a model's own Jinja template can; or --chat-template FILE.jinja)",
                   "tools", "unsupported_value");
  }
  std::string prompt;
  try {
    prompt = formatter_.render(r.messages, r.tools, /*add_generation_prompt=*/true, r.template_kwargs);
  } catch (const lmd::Error& e) {  // a template's syntax, raise_exception or limit: the client's request
    throw ApiError(400, std::string("chat template: ") + e.what(), "messages", "invalid_value");
  }
  std::vector<int32_t> ids = engine_.encode(prompt, formatter_.add_bos());
  r.gen.max_new_tokens = max_new_tokens(r.max_tokens, ids.size(), "messages");
  add_template_stops(r.gen);
  validate_gen(r.gen);

  acquire_slot(metrics_, cfg_.max_concurrent_requests);
  auto job = std::make_shared<GenerationJob>(engine_, metrics_, fan_out(ids, r.gen, r.n, sessions_, r.session_id), r.n);
  const std::string id = random_id("chatcmpl-");
  const int64_t created = now_s();
  TokenText text_of = [this](int32_t t) { return engine_.decode({t}); };

  if (!r.stream) {
    const std::vector<ChoiceOutput> choices = job->collect();
    res.set_content(
        dump(chat_completion_json(id, created, model_name_, choices, r.gen.logprobs, text_of, job->usage())),
        "application/json");
    return;
  }

  const std::string model = model_name_;
  const bool logprobs = r.gen.logprobs;
  StreamFormat format;
  format.content_type = "text/event-stream";
  for (int i = 0; i < r.n; ++i) {
    format.preamble.push_back(
        sse_event(chat_chunk_json(id, created, model, i, {{"role", "assistant"}, {"content", ""}}, nullptr, "")));
  }
  format.chunk = [id, created, model, logprobs, text_of](const ChoiceEvent& ev) {
    const GenerationOutput& out = ev.out;
    if (out.finish_reason == "error") return sse_event(generation_error(out).to_json());
    std::string bytes;
    if (!out.text.empty() || !out.logprobs.empty()) {
      bytes = sse_event(chat_chunk_json(id, created, model, ev.index, {{"content", out.text}},
                                        logprobs ? chat_logprobs_json(out.logprobs, text_of) : json(), ""));
    }
    if (!out.finish_reason.empty()) {
      bytes += sse_event(chat_chunk_json(id, created, model, ev.index, json::object(), nullptr, out.finish_reason));
    }
    return bytes;
  };
  format.trailer = openai_trailer(id, "chat.completion.chunk", created, model, r.include_usage);
  stream_job(res, std::move(job), std::move(format));
}

void ApiServer::handle_completions(const httplib::Request& req, httplib::Response& res) {
  CompletionRequest r = parse_completion(parse_body(req.body));
  check_model(r.model);
  std::vector<Request> reqs;
  std::vector<std::string> echo_text;  // per choice
  for (const auto& p : r.prompts) {
    std::vector<int32_t> ids = engine_.encode(p, /*add_bos=*/true);
    GenerationConfig gen = r.gen;
    gen.max_new_tokens = max_new_tokens(r.max_tokens, ids.size(), "prompt");
    validate_gen(gen);
    for (auto& one : fan_out(ids, gen, r.n, sessions_, -1)) {
      reqs.push_back(std::move(one));
      echo_text.push_back(r.echo ? p : "");
    }
  }
  acquire_slot(metrics_, cfg_.max_concurrent_requests);
  auto job = std::make_shared<GenerationJob>(engine_, metrics_, std::move(reqs), r.n);
  const std::string id = random_id("cmpl-");
  const int64_t created = now_s();
  TokenText text_of = [this](int32_t t) { return engine_.decode({t}); };

  if (!r.stream) {
    std::vector<ChoiceOutput> choices = job->collect();
    for (size_t i = 0; i < choices.size(); ++i) choices[i].text.insert(0, echo_text[i]);
    res.set_content(
        dump(completion_json(id, created, model_name_, choices, r.gen.logprobs ? 1 : 0, text_of, job->usage())),
        "application/json");
    return;
  }

  const std::string model = model_name_;
  const bool logprobs = r.gen.logprobs;
  StreamFormat format;
  format.content_type = "text/event-stream";
  for (size_t i = 0; i < echo_text.size(); ++i) {
    if (!echo_text[i].empty()) {
      format.preamble.push_back(
          sse_event(completion_chunk_json(id, created, model, int(i), echo_text[i], nullptr, "")));
    }
  }
  format.chunk = [id, created, model, logprobs, text_of](const ChoiceEvent& ev) {
    const GenerationOutput& out = ev.out;
    if (out.finish_reason == "error") return sse_event(generation_error(out).to_json());
    if (out.text.empty() && out.finish_reason.empty() && out.logprobs.empty()) return std::string();
    json lp = logprobs ? completion_logprobs_json(out.logprobs, text_of, 0) : json();
    return sse_event(completion_chunk_json(id, created, model, ev.index, out.text, lp, out.finish_reason));
  };
  format.trailer = openai_trailer(id, "text_completion", created, model, r.include_usage);
  stream_job(res, std::move(job), std::move(format));
}

namespace {
// Releases an interactive session's turn when the response (or its stream) is done.
struct Turn {
  Turn(SessionRegistry& s, Engine& e, int64_t session_id, int history_tokens, bool keep_session)
      : sessions(s), engine(e), id(session_id), new_history(history_tokens), keep(keep_session) {}
  Turn(const Turn&) = delete;
  Turn& operator=(const Turn&) = delete;
  SessionRegistry& sessions;
  Engine& engine;
  int64_t id;
  int new_history;
  bool keep;
  bool finished_ok = false;
  // Called when the answer is complete (before the last bytes reach the client, so its next
  // turn never finds the session busy) and, for turns cut short, on destruction.
  void release() {
    if (released) return;
    released = true;
    const bool kept = keep && finished_ok;
    if (!kept && keep) engine.end_session(id);  // cut short: the KV is in an unknown state
    sessions.end_turn(id, new_history, kept);
  }
  ~Turn() { release(); }
  bool released = false;
};

json interactive_json(const std::string& text, int tokens, int input_tokens, int history_tokens,
                      const std::string& finish_reason) {
  return {{"text", text},
          {"tokens", tokens},
          {"input_tokens", input_tokens},
          {"history_tokens", history_tokens},
          {"finish_reason", finish_reason.empty() ? json() : json(finish_reason)}};
}
}  // namespace

void ApiServer::handle_interactive(const httplib::Request& req, httplib::Response& res) {
  InteractiveRequest r = parse_interactive(parse_body(req.body));
  const int64_t sid = r.session_id >= 0 ? r.session_id : sessions_.next_auto_id();
  if (r.cancel || r.renew_session) {
    if (!sessions_.forget(sid)) {
      throw ApiError(409, "session " + std::to_string(sid) + " is running a turn", "session_id", "session_busy");
    }
    engine_.end_session(sid);
    if (r.cancel) {
      res.set_content(dump(interactive_json("", 0, 0, 0, "cancelled")), "application/json");
      return;
    }
  }
  int history = 0;
  if (!sessions_.begin_turn(sid, &history)) {
    throw ApiError(409, "session " + std::to_string(sid) + " is running a turn", "session_id", "session_busy");
  }
  auto turn = std::make_shared<Turn>(sessions_, engine_, sid, history, r.interactive_mode);
  // lmdeploy: a non-interactive request with an empty prompt just ends the session.
  if (!r.interactive_mode && r.prompt.empty()) {
    engine_.end_session(sid);
    res.set_content(dump(interactive_json("", 0, 0, 0, "stop")), "application/json");
    return;
  }
  const bool start = history == 0;
  std::string prompt;
  try {
    prompt = formatter_.turn_prompt(r.prompt, start);
  } catch (const lmd::Error& e) {
    throw ApiError(400, std::string("chat template: ") + e.what(), "prompt", "invalid_value");
  }
  std::vector<int32_t> ids = engine_.encode(prompt, /*add_bos=*/start && formatter_.add_bos());
  r.gen.max_new_tokens = max_new_tokens(r.max_tokens, history + ids.size(), "prompt");
  add_template_stops(r.gen);
  validate_gen(r.gen);

  Request er;
  er.session_id = sid;
  er.prompt_ids = std::move(ids);
  er.gen = r.gen;
  er.sequence_start = start;
  er.sequence_end = !r.interactive_mode;
  const int input_tokens = static_cast<int>(er.prompt_ids.size());
  acquire_slot(metrics_, cfg_.max_concurrent_requests);
  std::vector<Request> one;
  one.push_back(std::move(er));
  auto job = std::make_shared<GenerationJob>(engine_, metrics_, std::move(one));

  if (!r.stream) {
    const ChoiceOutput out = job->collect()[0];
    const Usage usage = job->usage();
    turn->finished_ok = out.finish_reason != "cancelled";
    turn->new_history = history + usage.prompt_tokens + usage.completion_tokens;
    res.set_content(dump(interactive_json(out.text, static_cast<int>(out.token_ids.size()), input_tokens, history,
                                          out.finish_reason)),
                    "application/json");
    return;
  }
  StreamFormat format;
  format.content_type = "application/x-ndjson";
  format.chunk = [turn, input_tokens, history, tokens = 0](const ChoiceEvent& ev) mutable {
    const GenerationOutput& out = ev.out;
    tokens += static_cast<int>(out.token_ids.size());
    if (!out.finish_reason.empty() && out.finish_reason != "error") {
      turn->finished_ok = out.finish_reason != "cancelled";
      turn->new_history = history + out.usage.prompt_tokens + out.usage.completion_tokens;
    }
    json j = interactive_json(out.text, tokens, input_tokens, history, out.finish_reason);
    if (out.finish_reason == "error") j["error"] = out.error;
    if (!out.finish_reason.empty()) turn->release();
    return dump(j) + "\n";
  };
  stream_job(res, std::move(job), std::move(format));
}

void ApiServer::handle_encode(const httplib::Request& req, httplib::Response& res) {
  EncodeRequest r = parse_encode(parse_body(req.body));
  json ids = json::array(), lengths = json::array();
  for (const auto& text : r.inputs) {
    std::vector<int32_t> t =
        engine_.encode(r.do_preprocess ? formatter_.turn_prompt(text, true) : text, r.add_bos);
    ids.push_back(t);
    lengths.push_back(t.size());
  }
  json out = r.is_list ? json{{"input_ids", ids}, {"length", lengths}}
                       : json{{"input_ids", ids[0]}, {"length", lengths[0]}};
  res.set_content(dump(out), "application/json");
}

}  // namespace lmd::serve
