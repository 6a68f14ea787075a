#include "core/quant_policy.h"

#include "core/error.h"

namespace lmd {

const char* quant_policy_choices() { return "0 | fp16, 4 | 8 | int8, 16 | int4"; }

int parse_quant_policy_value(const std::string& s, const std::string& where) {
  if (s == "0" || s == "fp16" || s == "f16") return kQuantPolicyFp16;
  if (s == "4" || s == "int8") return kQuantPolicyInt8;
  if (s == "8") return kQuantPolicyInt8New;
  if (s == "16" || s == "int4") return kQuantPolicyInt4;
  throw Error(where + " '" + s + "': unknown value; expected " + quant_policy_choices() +
              " (4 is the seed's int8; newer lmdeploy's 4 = int4 is spelled int4 here)");
}

KvKind kv_kind_for_quant_policy(int quant_policy) {
  switch (quant_policy) {
    case kQuantPolicyFp16: return KvKind::kF16;
    case kQuantPolicyInt8:
    case kQuantPolicyInt8New: return KvKind::kInt8;
    case kQuantPolicyInt4: return KvKind::kInt4;
    default:
      throw Error("quant_policy '" + std::to_string(quant_policy) + "': unknown value; expected " +
                  quant_policy_choices());
  }
}

std::string normalize_quant_policy(std::string& s) {
  s = std::to_string(parse_quant_policy_value(s));
  return "";
}

}  // namespace lmd
