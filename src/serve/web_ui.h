// The built-in web chat page (`lmdeploy serve gradio`): one HTML document with its CSS and
// JS inline (no CDN). It talks to the same origin's /v1/chat/completions (streamed SSE) and
// /v1/models, so it works in front of an in-process ApiServer or a proxy to a remote one.
#pragma once

#include <string>

namespace lmd::serve {

const std::string& web_ui_html();

}  // namespace lmd::serve
