// Python's arithmetic, comparison and membership operators on template values.
#include <cmath>

#include "template/jinja/builtins.h"
#include "template/jinja/interpreter.h"
#include "template/jinja/py_format.h"

namespace lmd::jinja {

namespace {

[[noreturn]] void unsupported(const std::string& op, const Value& a, const Value& b) {
  fail("TypeError: unsupported operand type(s) for " + op + ": '" + a.type_name() + "' and '" + b.type_name() + "'");
}

[[noreturn]] void overflow() { fail("OverflowError: integer result does not fit in 64 bits"); }

// Python ints do not overflow; ours are 64-bit and report it.
int64_t checked_add(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) overflow();
  return r;
}
int64_t checked_sub(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_sub_overflow(a, b, &r)) overflow();
  return r;
}
int64_t checked_mul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) overflow();
  return r;
}

// Python's floor division and modulo (the result's sign follows the divisor).
int64_t floor_div(int64_t a, int64_t b) {
  if (a == INT64_MIN && b == -1) overflow();
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}
int64_t floor_mod(int64_t a, int64_t b) {
  if (b == -1) return 0;
  int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}
double float_mod(double a, double b) {
  double r = std::fmod(a, b);
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  if (r == 0) r = std::copysign(0.0, b);
  return r;
}

int64_t int_pow(int64_t base, int64_t exp) {
  int64_t result = 1;
  while (exp > 0) {
    if (exp & 1) {
      if (__builtin_mul_overflow(result, base, &result)) overflow();
    }
    exp >>= 1;
    if (exp > 0 && __builtin_mul_overflow(base, base, &base)) overflow();
  }
  return result;
}

Value repeat(Interpreter& interp, const Value& seq, int64_t times) {
  if (times <= 0) return seq.is_string() ? Value::string("") : interp.make_list({}, seq.is_tuple());
  if (seq.is_string()) {
    const std::string& s = seq.as_string();
    if (!s.empty() && static_cast<uint64_t>(times) > interp.options().max_output_bytes / s.size() + 1) {
      interp.make_string(std::string(interp.options().max_output_bytes + 1, ' '));  // reports the limit
    }
    std::string out;
    out.reserve(s.size() * times);
    for (int64_t i = 0; i < times; ++i) out += s;
    return interp.make_string(std::move(out));
  }
  const List& items = seq.as_list();
  if (!items.empty() && static_cast<uint64_t>(times) > interp.options().max_output_bytes / items.size() + 1) {
    fail("list of more than " + std::to_string(interp.options().max_output_bytes) + " items exceeds max_output_bytes");
  }
  List out;
  for (int64_t i = 0; i < times; ++i) out.insert(out.end(), items.begin(), items.end());
  return interp.make_list(std::move(out), seq.is_tuple());
}

}  // namespace

Value binary_op(Interpreter& interp, const std::string& op, const Value& a, const Value& b) {
  if (a.is_undefined()) a.fail_undefined();
  if (b.is_undefined()) b.fail_undefined();
  const bool nums = a.is_number() && b.is_number();
  const bool ints = nums && !a.is_float() && !b.is_float();
  if (op == "+") {
    if (ints) return Value::integer(checked_add(a.as_int(), b.as_int()));
    if (nums) return Value::floating(a.as_float() + b.as_float());
    if (a.is_string() && b.is_string()) return interp.make_string(a.as_string() + b.as_string());
    if ((a.is_list() && b.is_list()) || (a.is_tuple() && b.is_tuple())) {
      List out = a.as_list();
      out.insert(out.end(), b.as_list().begin(), b.as_list().end());
      return interp.make_list(std::move(out), a.is_tuple());
    }
    if (a.is_string()) fail("TypeError: can only concatenate str (not \"" + b.type_name() + "\") to str");
    if (a.is_list()) fail("TypeError: can only concatenate list (not \"" + b.type_name() + "\") to list");
    unsupported("+", a, b);
  }
  if (op == "-") {
    if (ints) return Value::integer(checked_sub(a.as_int(), b.as_int()));
    if (nums) return Value::floating(a.as_float() - b.as_float());
    unsupported("-", a, b);
  }
  if (op == "*") {
    if (ints) return Value::integer(checked_mul(a.as_int(), b.as_int()));
    if (nums) return Value::floating(a.as_float() * b.as_float());
    const bool a_seq = a.is_string() || a.is_sequence();
    const bool b_seq = b.is_string() || b.is_sequence();
    if (a_seq && (b.is_int() || b.is_bool())) return repeat(interp, a, b.as_int());
    if (b_seq && (a.is_int() || a.is_bool())) return repeat(interp, b, a.as_int());
    if (a_seq && !b.is_float()) fail("TypeError: can't multiply sequence by non-int of type '" + b.type_name() + "'");
    if (b_seq && !a.is_float()) fail("TypeError: can't multiply sequence by non-int of type '" + a.type_name() + "'");
    unsupported("*", a, b);
  }
  if (op == "/") {
    if (!nums) unsupported("/", a, b);
    if (b.as_float() == 0) fail(ints ? "ZeroDivisionError: division by zero" : "ZeroDivisionError: float division by zero");
    return Value::floating(a.as_float() / b.as_float());
  }
  if (op == "//") {
    if (!nums) unsupported("//", a, b);
    if (b.as_float() == 0) fail(ints ? "ZeroDivisionError: integer division or modulo by zero" : "ZeroDivisionError: float floor division by zero");
    if (ints) return Value::integer(floor_div(a.as_int(), b.as_int()));
    return Value::floating(std::floor(a.as_float() / b.as_float()));
  }
  if (op == "%") {
    if (a.is_string()) return interp.make_string(percent_format(a.as_string(), b));
    if (!nums) unsupported("%", a, b);
    if (b.as_float() == 0) fail(ints ? "ZeroDivisionError: integer modulo by zero" : "ZeroDivisionError: float modulo");
    if (ints) return Value::integer(floor_mod(a.as_int(), b.as_int()));
    return Value::floating(float_mod(a.as_float(), b.as_float()));
  }
  if (op == "**") {
    if (!nums) unsupported("** or pow()", a, b);
    if (ints && b.as_int() >= 0) return Value::integer(int_pow(a.as_int(), b.as_int()));
    if (a.as_float() == 0 && b.as_float() < 0) {
      fail("ZeroDivisionError: 0.0 cannot be raised to a negative power");
    }
    const double p = std::pow(a.as_float(), b.as_float());
    if (std::isinf(p) && std::isfinite(a.as_float()) && std::isfinite(b.as_float())) {
      fail("OverflowError: (34, 'Numerical result out of range')");
    }
    return Value::floating(p);
  }
  fail("internal error: unknown operator " + op);
}

Value negate(const Value& v) {
  if (v.is_undefined()) v.fail_undefined();
  if (v.is_float()) return Value::floating(-v.as_float());
  if (v.is_int() || v.is_bool()) {
    if (v.as_int() == INT64_MIN) overflow();
    return Value::integer(-v.as_int());
  }
  fail("TypeError: bad operand type for unary -: '" + v.type_name() + "'");
}

bool contains(Interpreter& interp, const Value& container, const Value& item) {
  switch (container.kind()) {
    case Value::Kind::kString:
      if (!item.is_string()) {
        if (item.is_undefined()) item.fail_undefined();
        fail("TypeError: 'in <string>' requires string as left operand, not " + item.type_name());
      }
      interp.charge(container.as_string().size());
      return container.as_string().find(item.as_string()) != std::string::npos;
    case Value::Kind::kList:
    case Value::Kind::kTuple:
    case Value::Kind::kIterator:
      interp.charge(container.as_list().size());
      for (const auto& v : container.as_list()) {
        if (equals(v, item)) return true;
      }
      return false;
    case Value::Kind::kDict:
      if (item.is_list() || item.is_dict()) fail("TypeError: unhashable type: '" + item.type_name() + "'");
      interp.charge(container.as_dict().items.size());
      return container.as_dict().find(item) != nullptr;
    case Value::Kind::kUndefined:
      if (container.undefined_is_unsafe()) container.fail_undefined();
      return false;
    default:
      fail("TypeError: argument of type '" + container.type_name() + "' is not iterable");
  }
}

bool compare(Interpreter& interp, const std::string& op, const Value& a, const Value& b) {
  if (op == "in") return contains(interp, b, a);
  if (op == "notin") return !contains(interp, b, a);
  if (a.is_sequence() || a.is_dict()) interp.charge(a.is_dict() ? a.as_dict().items.size() : a.as_list().size());
  if (op == "==") return equals(a, b);
  if (op == "!=") return !equals(a, b);
  if (op == "<") return less_than(a, b);
  if (op == ">") return less_than(b, a);
  if (op == "<=") return less_than(a, b) || equals(a, b);
  if (op == ">=") return less_than(b, a) || equals(a, b);
  fail("internal error: unknown comparison " + op);
}

}  // namespace lmd::jinja
