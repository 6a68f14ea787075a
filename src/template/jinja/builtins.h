// Registries of the built-ins: filters (filters.cc, filters_seq.cc), tests (tests.cc),
// methods of str / dict / list (methods.cc), globals (globals.cc), JSON bridging
// (json_value.cc). Internal to src/template/jinja.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "template/jinja/object.h"
#include "template/jinja/runtime_objects.h"

namespace lmd::jinja {

using FilterFn = Value (*)(Interpreter& interp, const Value& value, CallArgs& args);
using TestFn = bool (*)(Interpreter& interp, const Value& value, CallArgs& args);

FilterFn find_filter(const std::string& name);  // nullptr when jinja2 has no such filter
TestFn find_test(const std::string& name);      // nullptr when jinja2 has no such test

// `obj.name` for a Python method of str / dict / list / tuple. kMethod sets *out to the bound
// method; kUnsafe: the method exists but ImmutableSandboxedEnvironment forbids it (it
// mutates: list.append, dict.update, ...).
enum class MethodLookup { kNone, kMethod, kUnsafe };
MethodLookup find_method(const Value& obj, const std::string& name, Value* out);

// range, dict, namespace, raise_exception, strftime_now, cycler, joiner.
void add_globals(Scope& scope);

// JSON -> Value (objects keep their key order) and transformers' tojson (json.dumps).
Value json_to_value(const nlohmann::ordered_json& j);
std::string json_dumps(Interpreter& interp, const Value& v, const std::optional<std::string>& indent,
                       const std::string& item_sep, const std::string& key_sep, bool sort_keys, bool ensure_ascii);

// Python operators (operators.cc).
Value binary_op(Interpreter& interp, const std::string& op, const Value& a, const Value& b);
Value negate(const Value& v);
bool contains(Interpreter& interp, const Value& container, const Value& item);
bool compare(Interpreter& interp, const std::string& op, const Value& a, const Value& b);
// Python slicing of a list / tuple / str; start / stop / step may be None.
Value slice_value(Interpreter& interp, const Value& obj, const Value& start, const Value& stop, const Value& step);

}  // namespace lmd::jinja
