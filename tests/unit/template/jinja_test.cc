// The Jinja interpreter against Python jinja2 (goldens from tools/gen_template_golden_jinja.py),
// plus error positions, sandbox refusals, resource bounds and a mutation fuzz.
#include "template/jinja/jinja.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>

#include "core/error.h"

namespace lmd {
namespace {

const std::string kDataDir = std::string(LMD_TEST_DATA_DIR) + "/templates/";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Renders `text` with `context` (JSON text); returns the output or "ERROR: <message>".
std::string render(const std::string& text, const std::string& context = "{}", JinjaOptions opts = {}) {
  try {
    return render_jinja(text, nlohmann::ordered_json::parse(context), opts, "t");
  } catch (const Error& e) {
    return std::string("ERROR: ") + e.what();
  }
}

struct GoldenResult {
  int total = 0;
  int matched = 0;
};

// Every row of a golden file: our output equals jinja2's, or both raise.
GoldenResult check_golden(const std::string& file, bool template_is_file) {
  std::ifstream in(kDataDir + file);
  EXPECT_TRUE(in.good()) << kDataDir + file;
  std::string line;
  std::getline(in, line);
  const auto header = nlohmann::json::parse(line);
  EXPECT_EQ(header["generated_by"], "tools/gen_template_golden_jinja.py");
  JinjaOptions opts;
  opts.now_epoch_seconds = header["now_epoch_seconds"].get<int64_t>();
  std::map<std::string, JinjaTemplate> parsed;
  GoldenResult r;
  while (std::getline(in, line)) {
    const auto row = nlohmann::ordered_json::parse(line);
    const std::string name = row["template"].get<std::string>();
    ++r.total;
    std::string out, error;
    try {
      auto it = parsed.find(name);
      if (it == parsed.end()) {
        const std::string text = template_is_file ? read_file(kDataDir + name) : name;
        it = parsed.emplace(name, JinjaTemplate::parse(text, name, opts)).first;
      }
      out = it->second.render(row["context"]);
    } catch (const Error& e) {
      error = e.what();
    }
    const std::string where = name + " x " + row.value("conversation", std::string("-"));
    if (row.contains("output")) {
      EXPECT_EQ(error, "") << where;
      EXPECT_EQ(out, row["output"].get<std::string>()) << where;
      if (error.empty() && out == row["output"].get<std::string>()) ++r.matched;
    } else {
      EXPECT_NE(error, "") << where << ": jinja2 raised " << row["error"] << " but we rendered " << out;
      if (!error.empty()) ++r.matched;
    }
  }
  return r;
}

TEST(JinjaGolden, CorpusTemplatesTimesConversationsMatchJinja2) {
  const GoldenResult r = check_golden("golden.jsonl", true);
  EXPECT_GE(r.total, 250);
  EXPECT_EQ(r.matched, r.total);
  std::printf("[ jinja corpus ] %d / %d template x conversation pairs identical to jinja2\n", r.matched, r.total);
}

TEST(JinjaGolden, SemanticsSnippetsMatchJinja2) {
  const GoldenResult r = check_golden("snippets.jsonl", false);
  EXPECT_GE(r.total, 90);
  EXPECT_EQ(r.matched, r.total);
}

// ---- semantics spot checks (each also covered by the snippets golden)

TEST(JinjaSemantics, PythonPrintingOfValues) {
  EXPECT_EQ(render("{{ 1.0 }} {{ 3 }} {{ True }} {{ None }} {{ ['a', 1] }} {{ {'a': 1} }}"),
            "1.0 3 True None ['a', 1] {'a': 1}");
  EXPECT_EQ(render("{{ 0.1 + 0.2 }} {{ 1e16 }} {{ 1.5e-5 }}"), "0.30000000000000004 1e+16 1.5e-05");
}

TEST(JinjaSemantics, ContextKeyOrderIsKept) {
  EXPECT_EQ(render("{{ d|tojson }}{% for k, v in d.items() %}{{ k }}{% endfor %}", R"({"d": {"b": 1, "a": 2}})"),
            "{\"b\": 1, \"a\": 2}ba");
}

TEST(JinjaSemantics, CompiledTemplateRendersManyContexts) {
  const auto t = JinjaTemplate::parse("{% for m in messages %}{{ m.role }}:{{ m.content }};{% endfor %}", "chat");
  EXPECT_EQ(t.render(nlohmann::ordered_json::parse(R"({"messages": [{"role": "user", "content": "a"}]})")), "user:a;");
  EXPECT_EQ(t.render(nlohmann::json::parse(R"({"messages": []})")), "");
}

TEST(JinjaSemantics, StrftimeNowUsesTheFixedInstant) {
  JinjaOptions opts;
  opts.now_epoch_seconds = 1721995200;
  EXPECT_EQ(render("{{ strftime_now('%d %b %Y %H:%M') }}", "{}", opts), "26 Jul 2024 12:00");
}

TEST(JinjaSemantics, GenerationTagRendersItsBody) {
  EXPECT_EQ(render("{% generation %}x{{ 1 }}{% endgeneration %}"), "x1");
}

// ---- errors name template, line and column

TEST(JinjaErrors, SyntaxErrorNamesLineAndColumn) {
  const std::string e = render("line one\n  {% if %}x{% endif %}");
  EXPECT_NE(e.find("ERROR: template 't', line 2, column"), std::string::npos) << e;
}

TEST(JinjaErrors, UnclosedBlockSaysWhatWasExpected) {
  const std::string e = render("{% for x in y %}\n{{ x }}");
  EXPECT_NE(e.find("endfor"), std::string::npos) << e;
  EXPECT_NE(e.find("line 2"), std::string::npos) << e;
}

TEST(JinjaErrors, UnknownFilterAndTestAreNamed) {
  EXPECT_NE(render("a\n{{ 1 | frobnicate }}").find("line 2, column 8: No filter named 'frobnicate'"), std::string::npos);
  EXPECT_NE(render("{{ 1 is frob }}").find("No test named 'frob'"), std::string::npos);
}

TEST(JinjaErrors, RaiseExceptionCarriesTheTemplatesMessage) {
  const std::string e = render("{% if true %}\n  {{ raise_exception('Only user and assistant roles!') }}{% endif %}");
  EXPECT_EQ(e, "ERROR: template 't', line 2, column 6: Only user and assistant roles!");
}

TEST(JinjaErrors, UndefinedAttributeOfUndefinedFails) {
  EXPECT_NE(render("{{ nothing.attr }}").find("'nothing' is undefined"), std::string::npos);
  EXPECT_EQ(render("{{ nothing }}{{ nothing is defined }}{% for x in nothing %}x{% endfor %}"), "False");
}

// ---- sandbox and bounds: every runaway ends in an lmd::Error, quickly

class JinjaBounds : public ::testing::Test {
 protected:
  // Expects an error mentioning `needle` within a few seconds.
  void expect_bounded(const std::string& text, const std::string& needle, JinjaOptions opts = {}) {
    const auto start = std::chrono::steady_clock::now();
    const std::string r = render(text, "{}", opts);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const std::string shown = text.substr(0, 80);
    EXPECT_EQ(r.rfind("ERROR: ", 0), 0u) << shown << " rendered " << r.substr(0, 200);
    EXPECT_NE(r.find(needle), std::string::npos) << r.substr(0, 300);
    EXPECT_LT(secs, 5.0) << shown;
  }
};

TEST_F(JinjaBounds, HugeRangeIsRefusedLikeTheSandbox) {
  expect_bounded("{% for i in range(10**9) %}{% endfor %}", "Range too big");
}

TEST_F(JinjaBounds, LoopIterationsAreCounted) {
  JinjaOptions opts;  // the default (1,000,000) is reached the same way, only slower under sanitizers
  opts.max_loop_iterations = 100000;
  expect_bounded("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
                 "max_loop_iterations (100000)", opts);
}

TEST_F(JinjaBounds, RecursiveMacroHitsTheDepthLimit) {
  expect_bounded("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "max_recursion_depth");
}

TEST_F(JinjaBounds, HugeStringHitsTheOutputLimit) {
  expect_bounded("{{ 'x' * 10**9 }}", "max_output_bytes");
}

TEST_F(JinjaBounds, RepeatedDoublingThroughANamespaceHitsTheOutputLimit) {
  expect_bounded("{% set ns = namespace(s='x') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
                 "max_output_bytes");
}

TEST_F(JinjaBounds, OutputLimitCountsPrintedText) {
  JinjaOptions opts;
  opts.max_output_bytes = 1000;
  expect_bounded("{% for i in range(1000) %}abcdef{% endfor %}", "output exceeds max_output_bytes", opts);
}

TEST_F(JinjaBounds, TemplateSizeIsLimited) {
  JinjaOptions opts;
  opts.max_template_bytes = 10;
  expect_bounded("{{ 'this template is too long' }}", "max_template_bytes", opts);
}

TEST_F(JinjaBounds, DeepNestingIsAnErrorNotAStackOverflow) {
  expect_bounded("{{ " + std::string(100000, '(') + "1" + std::string(100000, ')') + " }}", "nesting too deep");
  expect_bounded("{{ " + std::string(100000, '[') + std::string(100000, ']') + " }}", "nesting too deep");
  std::string nots;
  for (int i = 0; i < 100000; ++i) nots += "not ";
  expect_bounded("{{ " + nots + "1 }}", "nesting too deep");
  std::string ifs;
  for (int i = 0; i < 20000; ++i) ifs += "{% if true %}";
  expect_bounded(ifs, "nesting too deep");
}

TEST_F(JinjaBounds, DeeplyNestedValuesAreRefused) {
  expect_bounded("{% set ns = namespace(x=[]) %}{% for i in range(5000) %}{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x }}",
                 "nesting exceeds");
}

TEST_F(JinjaBounds, DunderAttributesAreUnsafe) {
  EXPECT_EQ(render("{{ ''.__class__ }}"), "");  // jinja2 prints the refused attribute as undefined
  expect_bounded("{{ ''.__class__.__mro__ }}", "SecurityError");
  expect_bounded("{{ messages.__class__.__init__.__globals__ }}", "undefined");
}

TEST_F(JinjaBounds, MutatingMethodsAreRefusedAsInImmutableSandbox) {
  expect_bounded("{% set l = [1] %}{{ l.append(2) }}", "access to attribute 'append' of 'list' object is unsafe");
  expect_bounded("{% set d = {} %}{{ d.update({'a': 1}) }}", "unsafe");
}

// ---- robustness: mutated corpus templates either render or raise lmd::Error

TEST(JinjaFuzz, MutatedCorpusTemplatesNeverCrash) {
  const std::vector<std::string> names = {"qwen3.jinja", "llama-3.1.jinja", "mistral-v0.3.jinja", "gemma-3.jinja",
                                          "deepseek-r1-distill.jinja", "zephyr.jinja"};
  const auto context = nlohmann::ordered_json::parse(R"({"messages": [
      {"role": "system", "content": "s"}, {"role": "user", "content": "u"},
      {"role": "assistant", "content": "a", "tool_calls": [{"id": "call00001", "type": "function",
        "function": {"name": "f", "arguments": {"x": 1}}}]},
      {"role": "tool", "tool_call_id": "call00001", "content": "r"}],
      "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
      "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>"})");
  JinjaOptions opts;
  opts.max_loop_iterations = 10000;
  opts.max_output_bytes = 1 << 16;
  std::mt19937 rng(1234);
  const std::string alphabet = "{}%#-+()[]|~.'\"\\ \nabcxyz019_=<>!*/,:";
  int rendered = 0, refused = 0;
  for (const auto& name : names) {
    const std::string base = read_file(kDataDir + name);
    ASSERT_FALSE(base.empty()) << name;
    for (int i = 0; i < 300; ++i) {
      std::string t = base;
      const int edits = 1 + static_cast<int>(rng() % 4);
      for (int k = 0; k < edits && !t.empty(); ++k) {
        const size_t pos = rng() % t.size();
        switch (rng() % 4) {
          case 0: t.resize(pos); break;                                  // truncate
          case 1: t[pos] = static_cast<char>(rng() % 256); break;        // byte flip
          case 2: t.insert(pos, 1, alphabet[rng() % alphabet.size()]); break;
          default: t.erase(pos, 1 + rng() % 8); break;
        }
      }
      try {
        JinjaTemplate::parse(t, name, opts).render(context);
        ++rendered;
      } catch (const Error&) {
        ++refused;
      }
    }
  }
  EXPECT_EQ(rendered + refused, static_cast<int>(names.size()) * 300);
  EXPECT_GT(refused, 0);
  EXPECT_GT(rendered, 0);
}

}  // namespace
}  // namespace lmd
