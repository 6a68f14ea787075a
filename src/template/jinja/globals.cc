// Global functions: jinja2's range (sandboxed: at most 100000 items), dict, namespace,
// joiner; transformers' raise_exception and strftime_now.
#include <ctime>

#include "template/jinja/filter_util.h"

namespace lmd::jinja {

namespace {

// jinja2.sandbox.MAX_RANGE.
constexpr int64_t kMaxRange = 100000;

Value g_range(Interpreter& in, const BuiltinFunction&, CallArgs& args) {
  if (!args.keyword.empty()) fail("TypeError: range() takes no keyword arguments");
  const auto& p = args.positional;
  if (p.empty() || p.size() > 3) fail("TypeError: range expected 1 to 3 arguments, got " + std::to_string(p.size()));
  int64_t start = 0, stop = 0, step = 1;
  if (p.size() == 1) {
    stop = int_arg(p[0], "range");
  } else {
    start = int_arg(p[0], "range");
    stop = int_arg(p[1], "range");
    if (p.size() == 3) step = int_arg(p[2], "range");
  }
  if (step == 0) fail("ValueError: range() arg 3 must not be zero");
  // Item count computed without overflow: (stop - start) may exceed int64 in extreme inputs.
  const long double span = static_cast<long double>(stop) - static_cast<long double>(start);
  long double count = step > 0 ? (span + step - 1) / step : (span + step + 1) / step;
  if (count < 0) count = 0;
  if (count > kMaxRange) {
    fail("OverflowError: Range too big. The sandbox blocks ranges larger than MAX_RANGE (" + std::to_string(kMaxRange) + ").");
  }
  List out;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) out.push_back(Value::integer(i));
  return in.make_list(std::move(out));
}

// dict(mapping_or_pairs, **kwargs), also the body of namespace(...).
std::shared_ptr<Dict> dict_from_args(Interpreter& in, const CallArgs& args, const char* fn) {
  auto d = std::make_shared<Dict>();
  if (args.positional.size() > 1) fail(std::string("TypeError: ") + fn + " expected at most 1 argument");
  if (!args.positional.empty()) {
    const Value& src = args.positional[0];
    if (src.is_dict()) {
      *d = src.as_dict();
    } else {
      for (const auto& pair : in.iterate(src)) {
        const List kv = in.iterate(pair);
        if (kv.size() != 2) fail("ValueError: dictionary update sequence element has length " + std::to_string(kv.size()) + "; 2 is required");
        d->set(kv[0], kv[1]);
      }
    }
  }
  for (const auto& [k, v] : args.keyword) d->set(Value::string(k), v);
  return d;
}

Value g_dict(Interpreter& in, const BuiltinFunction&, CallArgs& args) { return Value::dict(dict_from_args(in, args, "dict")); }

Value g_namespace(Interpreter& in, const BuiltinFunction&, CallArgs& args) {
  auto ns = std::make_shared<Namespace>();
  const auto attrs = dict_from_args(in, args, "namespace");
  for (const auto& [k, v] : attrs->items) ns->set_attr(to_str(k), v);
  in.track_namespace(ns);
  return Value::object(ns);
}

Value g_raise_exception(Interpreter&, const BuiltinFunction&, CallArgs& args) {
  auto a = bind_args(args, "raise_exception", {"message"}, {Value()});
  fail(to_str(a[0]));
}

Value g_strftime_now(Interpreter& in, const BuiltinFunction&, CallArgs& args) {
  auto a = bind_args(args, "strftime_now", {"format"}, {Value()});
  const std::string& fmt = a[0].is_string() ? a[0].as_string() : (fail("TypeError: strftime() argument 1 must be str"), a[0].as_string());
  std::tm tm{};
  const int64_t fixed = in.options().now_epoch_seconds;
  const std::time_t t = fixed >= 0 ? static_cast<std::time_t>(fixed) : std::time(nullptr);
  if (fixed >= 0) {
    gmtime_r(&t, &tm);
  } else {
    localtime_r(&t, &tm);
  }
  if (fmt.empty()) return Value::string("");
  std::string buf(256 + fmt.size() * 16, '\0');
  const size_t n = std::strftime(buf.data(), buf.size(), fmt.c_str(), &tm);
  buf.resize(n);
  return in.make_string(std::move(buf));
}

// joiner(sep=", "): returns "" the first time it is called, `sep` afterwards.
class Joiner : public Object {
 public:
  explicit Joiner(std::string sep) : sep_(std::move(sep)) {}
  std::string type_name() const override { return "Joiner"; }
  bool callable() const override { return true; }
  Value call(Interpreter&, CallArgs& args) override {
    bind_args(args, "joiner", {}, {});
    if (!used_) {
      used_ = true;
      return Value::string("");
    }
    return Value::string(sep_);
  }

 private:
  std::string sep_;
  bool used_ = false;
};

Value g_joiner(Interpreter&, const BuiltinFunction&, CallArgs& args) {
  auto a = bind_args(args, "joiner", {"sep"}, {Value::string(", ")});
  return Value::object(std::make_shared<Joiner>(to_str(a[0])));
}

}  // namespace

void add_globals(Scope& scope) {
  auto add = [&](const char* name, BuiltinFunction::Fn fn) {
    scope.set(name, Value::object(std::make_shared<BuiltinFunction>(name, fn)));
  };
  add("range", g_range);
  add("dict", g_dict);
  add("namespace", g_namespace);
  add("joiner", g_joiner);
  add("raise_exception", g_raise_exception);
  add("strftime_now", g_strftime_now);
}

}  // namespace lmd::jinja
