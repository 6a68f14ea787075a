// Helpers shared by the filter and test implementations. Internal to src/template/jinja.
#pragma once

#include <functional>
#include <string>

#include "template/jinja/builtins.h"
#include "template/jinja/interpreter.h"
#include "template/jinja/py_format.h"

namespace lmd::jinja {

// jinja2's soft_str: str(x), undefined -> "".
inline std::string soft_str(const Value& v) { return to_str(v); }

// An integer argument (bool counts, as in Python).
int64_t int_arg(const Value& v, const char* what);

// jinja2's make_attrgetter: "a.b.0" looks up a, then b, then index 0 (environment.getitem);
// an empty attribute returns the item itself. `dflt` replaces undefined results.
Value get_attribute_path(Interpreter& interp, const Value& item, const Value& attribute, const Value& dflt = Value());

// ignore_case postprocessing for sort / unique / min / max / dictsort keys.
inline Value fold_case(const Value& v, bool case_sensitive) {
  if (!case_sensitive && v.is_string()) return Value::string(str_lower(v.as_string()));
  return v;
}

}  // namespace lmd::jinja
