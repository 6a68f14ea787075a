// The one error type of the HTTP layer: what went wrong, in OpenAI's shape.
//   {"error": {"message": "...", "type": "invalid_request_error", "param": "top_p", "code": null}}
// Handlers throw ApiError, or let an lmd::Error from the library escape; HttpServer (the
// base of every server here) turns either into the response through api_error_from() and
// send_error(): 4xx for the client's mistakes, 5xx only for ours.
#pragma once

#include <exception>
#include <stdexcept>
#include <string>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace lmd::serve {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string message, std::string param = "", std::string code = "",
           std::string type = "")
      : std::runtime_error(message), status_(status), param_(std::move(param)), code_(std::move(code)),
        type_(type.empty() ? default_type(status) : std::move(type)) {}

  int status() const { return status_; }
  const std::string& param() const { return param_; }
  const std::string& code() const { return code_; }
  const std::string& type() const { return type_; }

  nlohmann::json to_json() const {
    nlohmann::json err = {{"message", what()},
                          {"type", type_},
                          {"param", param_.empty() ? nlohmann::json() : nlohmann::json(param_)},
                          {"code", code_.empty() ? nlohmann::json() : nlohmann::json(code_)}};
    return {{"error", err}};
  }

  static std::string default_type(int status) {
    if (status == 401) return "authentication_error";
    if (status == 404) return "not_found_error";
    if (status == 409) return "conflict_error";
    if (status == 413) return "request_too_large";
    if (status == 429) return "rate_limit_error";
    if (status >= 500) return "server_error";
    return "invalid_request_error";
  }

 private:
  int status_;
  std::string param_, code_, type_;
};

// A client mistake in one request field: 400 naming the field.
inline ApiError bad_field(const std::string& field, const std::string& message) {
  return ApiError(400, "'" + field + "': " + message, field, "invalid_value");
}

// The one mapping of an exception to its HTTP answer:
//   ApiError                        as thrown
//   lmd::Error kInvalidArgument     400 invalid_value
//   lmd::Error kUnsupported         400 unsupported_value: valid input we do not handle.
//                                   Not 501: OpenAI clients retry every 5xx, and asking
//                                   again for what we never do is pointless.
//   lmd::Error kNotFound            404 not_found
//   lmd::Error kResourceExhausted   429 resource_exhausted (+ Retry-After): the engine is
//                                   full for now; clients back off and retry, as they do
//                                   on the --max-concurrent-requests 429.
//   lmd::Error kInternal, other     500 internal_error (our bug)
ApiError api_error_from(std::exception_ptr ep);

// Writes `e` as the response: its status, the JSON body, and `Retry-After: 1` on a 429 or
// 503 (OpenAI clients wait that long before they retry).
void send_error(httplib::Response& res, const ApiError& e);

}  // namespace lmd::serve
