// See api_error.h.
#include "serve/api_error.h"

#include "core/error.h"
#include "serve/openai_protocol.h"

namespace lmd::serve {

ApiError api_error_from(std::exception_ptr ep) {
  try {
    std::rethrow_exception(ep);
  } catch (const ApiError& e) {
    return e;
  } catch (const lmd::Error& e) {
    switch (e.kind()) {
      case lmd::Error::Kind::kInvalidArgument: return ApiError(400, e.what(), "", "invalid_value");
      case lmd::Error::Kind::kUnsupported: return ApiError(400, e.what(), "", "unsupported_value");
      case lmd::Error::Kind::kNotFound: return ApiError(404, e.what(), "", "not_found");
      case lmd::Error::Kind::kResourceExhausted: return ApiError(429, e.what(), "", "resource_exhausted");
      case lmd::Error::Kind::kInternal: break;
    }
    return ApiError(500, std::string("internal error: ") + e.what(), "", "internal_error");
  } catch (const std::exception& e) {
    return ApiError(500, std::string("internal error: ") + e.what(), "", "internal_error");
  } catch (...) {
    return ApiError(500, "internal error", "", "internal_error");
  }
}

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status();
  if (e.status() == 429 || e.status() == 503) res.set_header("Retry-After", "1");
  res.set_content(dump(e.to_json()), "application/json");
}

}  // namespace lmd::serve
