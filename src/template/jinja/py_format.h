// Python's text behaviour that templates observe: float repr, string repr, code-point
// handling of UTF-8 strings, str.isspace / upper / lower, printf-style '%' formatting.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "template/jinja/value.h"

namespace lmd::jinja {

// repr(float): shortest round-trip digits, fixed notation for 1e-4 <= |x| < 1e16 ("1.0",
// "0.30000000000000004"), else "1e+16" / "1.5e-05"; "inf", "-inf", "nan".
std::string float_repr(double d);
// repr(str): single quotes unless the text holds ' and no ", escapes as Python does.
std::string string_repr(const std::string& s);

// UTF-8 <-> code points. Invalid bytes decode as U+FFFD-free raw bytes (0xDC80 + byte,
// Python's surrogateescape), so encode(decode(s)) == s for any input.
std::vector<uint32_t> utf8_decode(const std::string& s);
std::string utf8_encode(const std::vector<uint32_t>& cps);
void utf8_append(std::string& out, uint32_t cp);
size_t utf8_length(const std::string& s);

// str.isspace() for one code point (also what Python's regex \s matches).
bool py_isspace(uint32_t cp);
// Simple case mapping (ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic).
uint32_t py_upper(uint32_t cp);
uint32_t py_lower(uint32_t cp);
bool py_isalnum(uint32_t cp);  // \w for the word-splitting filters (letters, digits, _ excluded)
bool is_cased_upper(uint32_t cp);
bool is_cased_lower(uint32_t cp);

std::string str_upper(const std::string& s);
std::string str_lower(const std::string& s);
std::string str_title(const std::string& s);       // str.title()
std::string str_capitalize(const std::string& s);  // str.capitalize()
// str.strip / lstrip / rstrip; chars == nullptr strips whitespace.
std::string str_strip(const std::string& s, const std::string* chars, bool left, bool right);
// str.splitlines() (keepends=False).
std::vector<std::string> str_splitlines(const std::string& s);
// str.split(sep, maxsplit) / rsplit; sep == nullptr splits on whitespace runs.
std::vector<std::string> str_split(const std::string& s, const std::string* sep, int64_t maxsplit, bool from_right);
// str.replace(old, new, count); count < 0 replaces all.
std::string str_replace(const std::string& s, const std::string& from, const std::string& to, int64_t count);
// str.center(width) with spaces.
std::string str_center(const std::string& s, int64_t width);

// `fmt % args` for %s %r %d %i %f %e %g %x %o %c %% with flags, width and precision;
// args is a tuple (several values), a dict (for %(name)s) or a single value.
std::string percent_format(const std::string& fmt, const Value& args);

}  // namespace lmd::jinja
