// OpenAI JSON <-> requests. See openai_protocol.h.
#include "serve/openai_protocol.h"

#include <cmath>
#include <limits>

#include "common/utf8.h"

namespace lmd::serve {
namespace {

const char* type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "boolean";
    case json::value_t::string: return "string";
    case json::value_t::array: return "array";
    case json::value_t::object: return "object";
    case json::value_t::number_float: return "number";
    default: return "integer";
  }
}

ApiError wrong_type(const std::string& field, const char* expected, const json& v) {
  return ApiError(400, "'" + field + "' must be " + expected + ", got " + type_name(v), field,
                  "invalid_type");
}

// Present and not null.
const json* field(const json& body, const std::string& name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<double> get_number(const json& body, const std::string& name) {
  const json* v = field(body, name);
  if (!v) return std::nullopt;
  if (!v->is_number()) throw wrong_type(name, "a number", *v);
  double d = v->get<double>();
  if (!std::isfinite(d)) throw bad_field(name, "must be finite");
  return d;
}

std::optional<int64_t> get_int(const json& body, const std::string& name) {
  const json* v = field(body, name);
  if (!v) return std::nullopt;
  if (v->is_number_float()) {
    double d = v->get<double>();
    if (d != std::floor(d) || std::fabs(d) > 9e15) throw wrong_type(name, "an integer", *v);
    return static_cast<int64_t>(d);
  }
  if (v->is_number_unsigned()) {
    uint64_t u = v->get<uint64_t>();
    if (u > uint64_t(std::numeric_limits<int64_t>::max())) throw bad_field(name, "is too large");
    return static_cast<int64_t>(u);
  }
  if (!v->is_number_integer()) throw wrong_type(name, "an integer", *v);
  return v->get<int64_t>();
}

std::optional<bool> get_bool(const json& body, const std::string& name) {
  const json* v = field(body, name);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) throw wrong_type(name, "a boolean", *v);
  return v->get<bool>();
}

std::optional<std::string> get_string(const json& body, const std::string& name) {
  const json* v = field(body, name);
  if (!v) return std::nullopt;
  if (!v->is_string()) throw wrong_type(name, "a string", *v);
  return v->get<std::string>();
}

float in_range(const json& body, const std::string& name, float def, double lo, double hi, bool lo_open = false) {
  auto v = get_number(body, name);
  if (!v) return def;
  if (*v < lo || *v > hi || (lo_open && *v == lo)) {
    throw bad_field(name, "must be in " + std::string(lo_open ? "(" : "[") + std::to_string(lo).substr(0, 4) + ", " +
                              std::to_string(hi).substr(0, 4) + "], got " + std::to_string(*v));
  }
  return static_cast<float>(*v);
}

int int_in_range(const json& body, const std::string& name, int def, int64_t lo, int64_t hi) {
  auto v = get_int(body, name);
  if (!v) return def;
  if (*v < lo || *v > hi) {
    throw bad_field(name, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
                              std::to_string(*v));
  }
  return static_cast<int>(*v);
}

// `stop`: false | null | string | [string]. (lmdeploy v0.1 sent a boolean.)
std::vector<std::string> parse_stop(const json& body) {
  const json* v = field(body, "stop");
  if (!v || (v->is_boolean() && !v->get<bool>())) return {};
  std::vector<std::string> out;
  if (v->is_string()) {
    out.push_back(v->get<std::string>());
  } else if (v->is_array()) {
    if (v->size() > 16) throw bad_field("stop", "at most 16 stop strings, got " + std::to_string(v->size()));
    for (const auto& s : *v) {
      if (!s.is_string()) throw wrong_type("stop", "a string or a list of strings", s);
      out.push_back(s.get<std::string>());
    }
  } else {
    throw wrong_type("stop", "a string or a list of strings", *v);
  }
  for (const auto& s : out) {
    if (s.empty()) throw bad_field("stop", "stop strings must not be empty");
  }
  return out;
}

// Fields shared by all generation routes. `defaults` carries the route's default sampling.
void parse_sampling(const json& body, SamplingRequest& r, const GenerationConfig& defaults) {
  r.gen = defaults;
  if (auto m = get_string(body, "model")) r.model = *m;
  r.n = int_in_range(body, "n", 1, 1, 64);
  r.stream = get_bool(body, "stream").value_or(false);
  if (const json* so = field(body, "stream_options")) {
    if (!so->is_object()) throw wrong_type("stream_options", "an object", *so);
    r.include_usage = get_bool(*so, "include_usage").value_or(false);
  }
  constexpr int64_t kMaxTokensCap = 1 << 30;
  for (const char* name : {"max_tokens", "max_completion_tokens", "request_output_len"}) {
    if (auto v = get_int(body, name)) {
      if (*v < 0 || *v > kMaxTokensCap) throw bad_field(name, "must be >= 0, got " + std::to_string(*v));
      r.max_tokens = static_cast<int>(*v);
    }
  }
  GenerationConfig& g = r.gen;
  g.temperature = in_range(body, "temperature", g.temperature, 0.0, 2.0);
  g.top_p = in_range(body, "top_p", g.top_p, 0.0, 1.0, /*lo_open=*/true);
  g.top_k = int_in_range(body, "top_k", g.top_k, 0, 1 << 20);
  g.min_p = in_range(body, "min_p", g.min_p, 0.0, 1.0);
  g.presence_penalty = in_range(body, "presence_penalty", g.presence_penalty, -2.0, 2.0);
  g.frequency_penalty = in_range(body, "frequency_penalty", g.frequency_penalty, -2.0, 2.0);
  g.repetition_penalty = in_range(body, "repetition_penalty", g.repetition_penalty, 0.0, 100.0, true);
  g.min_new_tokens = int_in_range(body, "min_new_tokens", g.min_new_tokens, 0, 1 << 30);
  g.ignore_eos = get_bool(body, "ignore_eos").value_or(g.ignore_eos);
  if (auto s = get_int(body, "seed")) g.seed = static_cast<uint64_t>(*s);
  g.stop_strings = parse_stop(body);
  r.skip_special_tokens = get_bool(body, "skip_special_tokens").value_or(true);
  if (auto s = get_int(body, "session_id")) r.session_id = *s;
  if (const json* u = field(body, "user"); u && !u->is_string()) throw wrong_type("user", "a string", *u);
}

GenerationConfig chat_defaults() {
  GenerationConfig g;
  g.temperature = 0.7f;
  g.top_p = 1.0f;
  g.top_k = 40;
  return g;
}

// A message's content: a string, null, or a list of typed parts ({"type": ..., ...}); the
// parts reach the chat template unchanged (a registry template renders only text parts).
void check_content(const json& content, size_t index) {
  const std::string where = "messages[" + std::to_string(index) + "].content";
  if (content.is_null() || content.is_string()) return;
  if (!content.is_array()) throw wrong_type(where, "a string or a list of content parts", content);
  for (const auto& part : content) {
    if (!part.is_object()) throw wrong_type(where, "a list of content parts", part);
    if (!get_string(part, "type")) throw bad_field(where, "each content part needs a string 'type'");
  }
}

}  // namespace

json parse_body(const std::string& body) {
  if (!utf8::is_valid(body)) throw ApiError(400, "request body is not valid UTF-8", "", "invalid_encoding");
  json j;
  try {
    j = json::parse(body);
  } catch (const json::parse_error& e) {
    throw ApiError(400, std::string("malformed JSON: ") + e.what(), "", "invalid_json");
  }
  if (!j.is_object()) throw ApiError(400, std::string("request body must be a JSON object, got ") + type_name(j), "",
                                     "invalid_json");
  return j;
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void read_template_inputs(const std::string& body, ChatCompletionRequest& r) {
  // Parsed again keeping the client's key order (Python dicts keep it; a template's tojson
  // of tool arguments shows it); parse_chat_completion validated the same text.
  const ojson ordered = ojson::parse(body);
  const ojson& msgs = ordered["messages"];
  if (msgs.is_array()) r.messages = msgs;
  if (ordered.contains("tools") && !ordered["tools"].empty()) r.tools = ordered["tools"];
  if (ordered.contains("chat_template_kwargs")) r.template_kwargs = ordered["chat_template_kwargs"];
}

ChatCompletionRequest parse_chat_completion(const json& body) {
  ChatCompletionRequest r;
  parse_sampling(body, r, chat_defaults());
  const json* msgs = field(body, "messages");
  if (!msgs) throw ApiError(400, "'messages' is required", "messages", "missing_field");
  if (msgs->is_string()) {
    r.messages = ojson::array({{{"role", "user"}, {"content", msgs->get<std::string>()}}});
  } else if (msgs->is_array()) {
    if (msgs->empty()) throw bad_field("messages", "must not be empty");
    for (size_t i = 0; i < msgs->size(); ++i) {
      const json& m = (*msgs)[i];
      const std::string where = "messages[" + std::to_string(i) + "]";
      if (!m.is_object()) throw wrong_type(where, "an object", m);
      auto role = get_string(m, "role");
      if (!role) throw ApiError(400, "'" + where + ".role' is required", where + ".role", "missing_field");
      if (*role != "system" && *role != "developer" && *role != "user" && *role != "assistant" && *role != "tool") {
        throw bad_field(where + ".role", "must be system, developer, user, assistant or tool, got '" + *role + "'");
      }
      if (auto it = m.find("content"); it != m.end()) check_content(*it, i);
      if (auto it = m.find("tool_calls"); it != m.end() && !it->is_null() && !it->is_array()) {
        throw wrong_type(where + ".tool_calls", "a list", *it);
      }
    }
  } else {
    throw wrong_type("messages", "a string or a list of messages", *msgs);
  }
  if (const json* t = field(body, "tools"); t && !t->is_array()) throw wrong_type("tools", "a list of tools", *t);
  if (const json* k = field(body, "chat_template_kwargs"); k && !k->is_object()) {
    throw wrong_type("chat_template_kwargs", "an object", *k);
  }
  if (auto lp = get_bool(body, "logprobs")) r.gen.logprobs = *lp;
  r.gen.top_logprobs = int_in_range(body, "top_logprobs", 0, 0, 20);
  if (r.gen.top_logprobs > 0 && !r.gen.logprobs) {
    throw bad_field("top_logprobs", "needs 'logprobs': true");
  }
  if (const json* rf = field(body, "response_format")) {
    if (!rf->is_object()) throw wrong_type("response_format", "an object", *rf);
    auto type = get_string(*rf, "type").value_or("text");
    if (type != "text") {
      throw ApiError(400, "'response_format': type '" + type + "' is not supported yet (only 'text')",
                     "response_format", "unsupported_value");
    }
  }
  if (const json* f = field(body, "functions"); f && !(f->is_array() && f->empty())) {
    throw ApiError(400, "'functions' (the legacy function calling) is not supported; use 'tools'", "functions",
                   "unsupported_value");
  }
  return r;
}

CompletionRequest parse_completion(const json& body) {
  CompletionRequest r;
  GenerationConfig defaults = chat_defaults();
  parse_sampling(body, r, defaults);
  if (!r.max_tokens) r.max_tokens = 16;
  const json* p = field(body, "prompt");
  if (!p) throw ApiError(400, "'prompt' is required", "prompt", "missing_field");
  if (p->is_string()) {
    r.prompts.push_back(p->get<std::string>());
  } else if (p->is_array() && !p->empty()) {
    for (const auto& s : *p) {
      if (!s.is_string()) throw wrong_type("prompt", "a string or a list of strings", s);
      r.prompts.push_back(s.get<std::string>());
    }
  } else {
    throw wrong_type("prompt", "a string or a non-empty list of strings", *p);
  }
  r.echo = get_bool(body, "echo").value_or(false);
  r.logprobs = int_in_range(body, "logprobs", 0, 0, 5);
  r.gen.logprobs = field(body, "logprobs") != nullptr;  // logprobs: 0 still asks for the chosen tokens'
  r.gen.top_logprobs = r.logprobs;
  if (auto suffix = get_string(body, "suffix"); suffix && !suffix->empty()) {
    throw ApiError(400, "'suffix' (fill-in-the-middle) is not supported", "suffix", "unsupported_value");
  }
  if (auto best_of = get_int(body, "best_of"); best_of && *best_of != r.n) {
    throw ApiError(400, "'best_of' other than n is not supported", "best_of", "unsupported_value");
  }
  return r;
}

InteractiveRequest parse_interactive(const json& body) {
  InteractiveRequest r;
  GenerationConfig defaults;  // lmdeploy's interactive defaults
  defaults.temperature = 0.8f;
  defaults.top_p = 0.8f;
  defaults.top_k = 40;
  parse_sampling(body, r, defaults);
  auto prompt = get_string(body, "prompt");
  r.prompt = prompt.value_or("");
  r.interactive_mode = get_bool(body, "interactive_mode").value_or(false);
  r.renew_session = get_bool(body, "renew_session").value_or(false);
  r.cancel = get_bool(body, "cancel").value_or(false);
  if (!prompt && !r.cancel && r.interactive_mode) {
    throw ApiError(400, "'prompt' is required", "prompt", "missing_field");
  }
  return r;
}

EncodeRequest parse_encode(const json& body) {
  EncodeRequest r;
  const json* in = field(body, "input");
  if (!in) throw ApiError(400, "'input' is required", "input", "missing_field");
  if (in->is_string()) {
    r.inputs.push_back(in->get<std::string>());
  } else if (in->is_array()) {
    r.is_list = true;
    for (const auto& s : *in) {
      if (!s.is_string()) throw wrong_type("input", "a string or a list of strings", s);
      r.inputs.push_back(s.get<std::string>());
    }
  } else {
    throw wrong_type("input", "a string or a list of strings", *in);
  }
  r.do_preprocess = get_bool(body, "do_preprocess").value_or(false);
  r.add_bos = get_bool(body, "add_bos").value_or(true);
  return r;
}

// ---- responses ----

json usage_json(const Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens}};
}

namespace {
json bytes_of(const std::string& s) {
  json b = json::array();
  for (unsigned char c : s) b.push_back(int(c));
  return b;
}
}  // namespace

json chat_logprobs_json(const std::vector<TokenLogprob>& lps, const TokenText& text_of) {
  json content = json::array();
  for (const auto& lp : lps) {
    std::string t = text_of(lp.token);
    json top = json::array();
    for (const auto& [id, p] : lp.top) {
      std::string tt = text_of(id);
      top.push_back({{"token", tt}, {"logprob", p}, {"bytes", bytes_of(tt)}});
    }
    content.push_back({{"token", t}, {"logprob", lp.logprob}, {"bytes", bytes_of(t)}, {"top_logprobs", top}});
  }
  return {{"content", content}};
}

json completion_logprobs_json(const std::vector<TokenLogprob>& lps, const TokenText& text_of, size_t text_offset0) {
  json tokens = json::array(), token_lps = json::array(), tops = json::array(), offsets = json::array();
  size_t offset = text_offset0;
  for (const auto& lp : lps) {
    std::string t = text_of(lp.token);
    tokens.push_back(t);
    token_lps.push_back(lp.logprob);
    json top = json::object();
    for (const auto& [id, p] : lp.top) top[text_of(id)] = p;
    tops.push_back(top);
    offsets.push_back(offset);
    offset += t.size();
  }
  return {{"tokens", tokens}, {"token_logprobs", token_lps}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

json chat_completion_json(const std::string& id, int64_t created, const std::string& model,
                          const std::vector<ChoiceOutput>& choices, bool with_logprobs, const TokenText& text_of,
                          const Usage& usage) {
  json cs = json::array();
  for (size_t i = 0; i < choices.size(); ++i) {
    const auto& c = choices[i];
    cs.push_back({{"index", i},
                  {"message", {{"role", "assistant"}, {"content", c.text}}},
                  {"logprobs", with_logprobs ? chat_logprobs_json(c.logprobs, text_of) : json()},
                  {"finish_reason", c.finish_reason}});
  }
  return {{"id", id},       {"object", "chat.completion"}, {"created", created},
          {"model", model}, {"choices", cs},               {"usage", usage_json(usage)}};
}

json chat_chunk_json(const std::string& id, int64_t created, const std::string& model, int index, const json& delta,
                     const json& logprobs, const std::string& finish_reason) {
  json choice = {{"index", index},
                 {"delta", delta},
                 {"logprobs", logprobs},
                 {"finish_reason", finish_reason.empty() ? json() : json(finish_reason)}};
  return {{"id", id},       {"object", "chat.completion.chunk"}, {"created", created},
          {"model", model}, {"choices", json::array({choice})}};
}

json completion_json(const std::string& id, int64_t created, const std::string& model,
                     const std::vector<ChoiceOutput>& choices, int logprobs, const TokenText& text_of,
                     const Usage& usage) {
  json cs = json::array();
  for (size_t i = 0; i < choices.size(); ++i) {
    const auto& c = choices[i];
    cs.push_back({{"index", i},
                  {"text", c.text},
                  {"logprobs", logprobs > 0 || !c.logprobs.empty() ? completion_logprobs_json(c.logprobs, text_of, 0)
                                                                   : json()},
                  {"finish_reason", c.finish_reason}});
  }
  return {{"id", id},       {"object", "text_completion"}, {"created", created},
          {"model", model}, {"choices", cs},               {"usage", usage_json(usage)}};
}

json completion_chunk_json(const std::string& id, int64_t created, const std::string& model, int index,
                           const std::string& text, const json& logprobs, const std::string& finish_reason) {
  json choice = {{"index", index},
                 {"text", text},
                 {"logprobs", logprobs},
                 {"finish_reason", finish_reason.empty() ? json() : json(finish_reason)}};
  return {{"id", id},       {"object", "text_completion"}, {"created", created},
          {"model", model}, {"choices", json::array({choice})}};
}

json usage_chunk_json(const std::string& id, const std::string& object, int64_t created, const std::string& model,
                      const Usage& usage) {
  return {{"id", id},       {"object", object},          {"created", created},
          {"model", model}, {"choices", json::array()}, {"usage", usage_json(usage)}};
}

}  // namespace lmd::serve
