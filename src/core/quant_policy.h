// quant_policy: which element kind the KV cache stores. One parser for every place a user
// writes it (config.ini, --quant-policy on chat / serve / lite ppl, EngineConfig).
//
//   value    name   KV cache
//   0        fp16   fp16
//   4        int8   int8: static kv_qparams when the workspace has past_kv_scale, else online
//   8        int8   the same (newer lmdeploy's number for int8)
//   16       int4   int4, online (per token and head)
//
// 4 keeps the seed's (lmdeploy v0.1) meaning: users copy `quant_policy = 4` from it. Newer
// lmdeploy renumbered (4 = int4, 8 = int8); its 8 does not collide, so we accept it, but
// its 4 does, so int4 is spelled by name; 16 (the next free bit of lmdeploy's flag
// scheme) is only the number EngineConfig / config.ini hold for it. See docs/quantization.md.
#pragma once

#include <string>

#include "core/kv_layout.h"

namespace lmd {

constexpr int kQuantPolicyUnset = -1;  // EngineConfig: use the model's config.ini value
constexpr int kQuantPolicyFp16 = 0;
constexpr int kQuantPolicyInt8 = 4;     // the seed's number
constexpr int kQuantPolicyInt8New = 8;  // newer lmdeploy's number
constexpr int kQuantPolicyInt4 = 16;

// "0" / "fp16" / "4" / "8" / "int8" / "16" / "int4" -> the number. Throws lmd::Error
// naming the value and the accepted ones ("where" prefixes the message, e.g. a file path).
int parse_quant_policy_value(const std::string& s, const std::string& where = "quant_policy");

// A quant_policy number -> the KV element kind; throws on anything else.
KvKind kv_kind_for_quant_policy(int quant_policy);

// For CLI11 transforms: rewrites `s` to its number and returns ""; throws lmd::Error on an
// unknown value (not CLI11's two-line validation message: the CLI prints "error: ..." once).
std::string normalize_quant_policy(std::string& s);

// The accepted spellings, for messages and --help.
const char* quant_policy_choices();

}  // namespace lmd
