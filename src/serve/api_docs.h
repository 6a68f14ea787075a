// What GET / (an HTML page documenting the API) and GET /openapi.json (OpenAPI 3 schema)
// serve. Both describe the same routes as docs/serving.md.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace lmd::serve {

const std::string& api_docs_html();
nlohmann::json openapi_schema(const std::string& model_name);

}  // namespace lmd::serve
