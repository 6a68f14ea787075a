// Sequence filters (first, last, join, list, items, map, select / reject, selectattr /
// rejectattr, unique, reverse, sort, dictsort, min, max, sum, batch). Like jinja2, map /
// select / reject / unique / items / batch / reverse return one-pass iterators, not lists.
#include <algorithm>
#include <unordered_map>

#include "template/jinja/filter_util.h"

namespace lmd::jinja {

FilterFn find_seq_filter(const std::string& name);

namespace {

Value f_first(Interpreter& in, const Value& v, CallArgs& args) {
  bind_args(args, "first", {}, {});
  const List items = in.iterate(v);
  if (items.empty()) return Value::undefined("No first item, sequence was empty.");
  return items.front();
}

Value f_last(Interpreter& in, const Value& v, CallArgs& args) {
  bind_args(args, "last", {}, {});
  if (v.is_iterator()) fail("TypeError: '" + v.type_name() + "' object is not reversible");
  const List items = in.iterate(v);
  if (items.empty()) return Value::undefined("No last item, sequence was empty.");
  return items.back();
}

Value f_join(Interpreter& in, const Value& v, CallArgs& args) {
  auto a = bind_args(args, "join", {"d", "attribute"}, {Value::string(""), Value::none()});
  const std::string sep = soft_str(a[0]);
  std::string out;
  bool first = true;
  for (const auto& item : in.iterate(v)) {
    if (!first) out += sep;
    first = false;
    out += soft_str(a[1].is_none() ? item : get_attribute_path(in, item, a[1]));
    if (out.size() > in.options().max_output_bytes) break;  // make_string reports it
  }
  return in.make_string(std::move(out));
}

Value f_list(Interpreter& in, const Value& v, CallArgs& args) {
  bind_args(args, "list", {}, {});
  return in.make_list(in.iterate(v));
}

Value f_items(Interpreter& in, const Value& v, CallArgs& args) {
  bind_args(args, "items", {}, {});
  if (v.is_undefined()) return Value::iterator({}, "generator");
  if (!v.is_dict()) fail("Can only get item pairs from a mapping.");
  List pairs;
  for (const auto& [k, val] : v.as_dict().items) pairs.push_back(Value::tuple({k, val}));
  in.charge(pairs.size());
  return Value::iterator(std::move(pairs), "generator");
}

Value f_map(Interpreter& in, const Value& v, CallArgs& args) {
  List out;
  if (!v.truthy()) return Value::iterator({}, "generator");
  if (args.positional.empty()) {
    Value attribute, dflt = Value::none();
    bool has_attribute = false;
    for (const auto& [k, val] : args.keyword) {
      if (k == "attribute") {
        attribute = val;
        has_attribute = true;
      } else if (k == "default") {
        dflt = val;
      } else {
        fail("Unexpected keyword argument '" + k + "'");
      }
    }
    if (!has_attribute) fail("map requires a filter argument");
    for (const auto& item : in.iterate(v)) out.push_back(get_attribute_path(in, item, attribute, dflt));
  } else {
    const std::string name = soft_str(args.positional[0]);
    CallArgs rest;
    rest.positional.assign(args.positional.begin() + 1, args.positional.end());
    rest.keyword = args.keyword;
    for (const auto& item : in.iterate(v)) {
      CallArgs each = rest;
      out.push_back(in.apply_filter(name, item, each));
    }
  }
  return Value::iterator(std::move(out), "generator");
}

// select / reject / selectattr / rejectattr.
Value select_or_reject(Interpreter& in, const Value& v, CallArgs& args, bool select, bool by_attribute) {
  if (!v.truthy()) return Value::iterator({}, "generator");
  size_t next = 0;
  Value attribute;
  if (by_attribute) {
    if (args.positional.empty()) fail("Missing parameter for attribute name");
    attribute = args.positional[next++];
  }
  std::string test;
  bool has_test = next < args.positional.size();
  if (has_test) test = soft_str(args.positional[next++]);
  CallArgs test_args;
  test_args.positional.assign(args.positional.begin() + next, args.positional.end());
  test_args.keyword = args.keyword;
  List out;
  for (const auto& item : in.iterate(v)) {
    const Value subject = by_attribute ? get_attribute_path(in, item, attribute) : item;
    bool ok;
    if (has_test) {
      CallArgs each = test_args;
      ok = in.apply_test(test, subject, each);
    } else {
      ok = subject.truthy();
    }
    if (ok == select) out.push_back(item);
  }
  return Value::iterator(std::move(out), "generator");
}
Value f_select(Interpreter& in, const Value& v, CallArgs& a) { return select_or_reject(in, v, a, true, false); }
Value f_reject(Interpreter& in, const Value& v, CallArgs& a) { return select_or_reject(in, v, a, false, false); }
Value f_selectattr(Interpreter& in, const Value& v, CallArgs& a) { return select_or_reject(in, v, a, true, true); }
Value f_rejectattr(Interpreter& in, const Value& v, CallArgs& a) { return select_or_reject(in, v, a, false, true); }

void require_hashable(const Value& key) {
  if (key.is_list() || key.is_dict()) fail("TypeError: unhashable type: '" + key.type_name() + "'");
}

Value f_unique(Interpreter& in, const Value& v, CallArgs& args) {
  auto a = bind_args(args, "unique", {"case_sensitive", "attribute"}, {Value::boolean(false), Value::none()});
  List seen, out;
  for (const auto& item : in.iterate(v)) {
    const Value key = fold_case(get_attribute_path(in, item, a[1]), a[0].truthy());
    require_hashable(key);
    in.charge(seen.size());
    if (std::none_of(seen.begin(), seen.end(), [&](const Value& s) { return equals(s, key); })) {
      seen.push_back(key);
      out.push_back(item);
    }
  }
  return Value::iterator(std::move(out), "generator");
}

Value f_reverse(Interpreter& in, const Value& v, CallArgs& args) {
  bind_args(args, "reverse", {}, {});
  if (v.is_string()) {
    std::vector<uint32_t> cps = utf8_decode(v.as_string());
    std::reverse(cps.begin(), cps.end());
    return in.make_string(utf8_encode(cps));
  }
  List items = in.iterate(v);
  std::reverse(items.begin(), items.end());
  if (v.is_iterator()) return in.make_list(std::move(items));  // reversed() refuses it: list(value)[::-1]
  const char* type = v.is_dict() ? "dict_reversekeyiterator" : v.is_tuple() ? "reversed" : "list_reverseiterator";
  return Value::iterator(std::move(items), type);
}

// Sort keys: the item (or its attribute path; "a,b" gives several keys), case-folded.
List sort_key(Interpreter& in, const Value& item, const Value& attribute, bool case_sensitive) {
  List keys;
  if (attribute.is_string() && attribute.as_string().find(',') != std::string::npos) {
    const std::string& spec = attribute.as_string();
    size_t start = 0;
    while (true) {
      const size_t comma = spec.find(',', start);
      const std::string part = spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      keys.push_back(fold_case(get_attribute_path(in, item, Value::string(part)), case_sensitive));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    return keys;
  }
  keys.push_back(fold_case(get_attribute_path(in, item, attribute), case_sensitive));
  return keys;
}

bool keys_less(const List& a, const List& b) {
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (!equals(a[i], b[i])) return less_than(a[i], b[i]);
  }
  return a.size() < b.size();
}

Value f_sort(Interpreter& in, const Value& v, CallArgs& args) {
  auto a = bind_args(args, "sort", {"reverse", "case_sensitive", "attribute"},
                     {Value::boolean(false), Value::boolean(false), Value::none()});
  const List items = in.iterate(v);
  std::vector<std::pair<List, size_t>> keyed;
  for (size_t i = 0; i < items.size(); ++i) keyed.emplace_back(sort_key(in, items[i], a[2], a[1].truthy()), i);
  const bool reverse = a[0].truthy();
  in.charge(items.size() * 16);
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
    return reverse ? keys_less(y.first, x.first) : keys_less(x.first, y.first);
  });
  List out;
  for (const auto& k : keyed) out.push_back(items[k.second]);
  return in.make_list(std::move(out));
}

Value f_dictsort(Interpreter& in, const Value& v, CallArgs& args) {
  auto a = bind_args(args, "dictsort", {"case_sensitive", "by", "reverse"},
                     {Value::boolean(false), Value::string("key"), Value::boolean(false)});
  if (!v.is_dict()) fail("AttributeError: '" + v.type_name() + "' object has no attribute 'items'");
  const std::string by = soft_str(a[1]);
  if (by != "key" && by != "value") fail("You can only sort by either \"key\" or \"value\"");
  const size_t pos = by == "key" ? 0 : 1;
  List pairs;
  for (const auto& [k, val] : v.as_dict().items) pairs.push_back(Value::tuple({k, val}));
  const bool reverse = a[2].truthy();
  const bool cs = a[0].truthy();
  in.charge(pairs.size() * 16);
  std::stable_sort(pairs.begin(), pairs.end(), [&](const Value& x, const Value& y) {
    const Value kx = fold_case(x.as_list()[pos], cs), ky = fold_case(y.as_list()[pos], cs);
    return reverse ? less_than(ky, kx) : less_than(kx, ky);
  });
  return in.make_list(std::move(pairs));
}

Value min_or_max(Interpreter& in, const Value& v, CallArgs& args, bool want_max) {
  auto a = bind_args(args, want_max ? "max" : "min", {"case_sensitive", "attribute"},
                     {Value::boolean(false), Value::none()});
  const List items = in.iterate(v);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  size_t best = 0;
  Value best_key = fold_case(get_attribute_path(in, items[0], a[1]), a[0].truthy());
  for (size_t i = 1; i < items.size(); ++i) {
    Value key = fold_case(get_attribute_path(in, items[i], a[1]), a[0].truthy());
    if (want_max ? less_than(best_key, key) : less_than(key, best_key)) {
      best = i;
      best_key = key;
    }
  }
  return items[best];
}
Value f_max(Interpreter& in, const Value& v, CallArgs& a) { return min_or_max(in, v, a, true); }
Value f_min(Interpreter& in, const Value& v, CallArgs& a) { return min_or_max(in, v, a, false); }

Value f_sum(Interpreter& in, const Value& v, CallArgs& args) {
  auto a = bind_args(args, "sum", {"attribute", "start"}, {Value::none(), Value::integer(0)});
  Value total = a[1];
  for (const auto& item : in.iterate(v)) total = binary_op(in, "+", total, get_attribute_path(in, item, a[0]));
  return total;
}

Value f_batch(Interpreter& in, const Value& v, CallArgs& args) {
  auto a = bind_args(args, "batch", {"linecount", "fill_with"}, {Value(), Value::none()});
  const int64_t n = int_arg(a[0], "linecount");
  if (n <= 0) fail("ValueError: batch size must be positive");
  List out, tmp;
  for (const auto& item : in.iterate(v)) {
    tmp.push_back(item);
    if (static_cast<int64_t>(tmp.size()) == n) {
      out.push_back(Value::list(std::move(tmp)));
      tmp.clear();
    }
  }
  if (!tmp.empty()) {
    if (!a[1].is_none()) {
      while (static_cast<int64_t>(tmp.size()) < n) tmp.push_back(a[1]);
    }
    out.push_back(Value::list(std::move(tmp)));
  }
  return Value::iterator(std::move(out), "generator");
}

}  // namespace

FilterFn find_seq_filter(const std::string& name) {
  static const std::unordered_map<std::string, FilterFn> kFilters = {
      {"first", f_first},   {"last", f_last},           {"join", f_join},       {"list", f_list},
      {"items", f_items},   {"map", f_map},             {"select", f_select},   {"reject", f_reject},
      {"selectattr", f_selectattr}, {"rejectattr", f_rejectattr}, {"unique", f_unique},
      {"reverse", f_reverse}, {"sort", f_sort},         {"dictsort", f_dictsort}, {"max", f_max},
      {"min", f_min},       {"sum", f_sum},             {"batch", f_batch},
  };
  const auto it = kFilters.find(name);
  return it == kFilters.end() ? nullptr : it->second;
}

}  // namespace lmd::jinja
