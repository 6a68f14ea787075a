// Hidden developer benchmark: the real Engine (scheduler, persistent batching, sampling,
// output streams) under concurrent load, with a timestamp for every output chunk.
// tools/profile_generation.py and tools/profile_throughput.py drive it and compute the
// metrics (first-token latency, per-token latency percentiles, TTFT / TPOT / ITL, tok/s).
//
// lmdeploy bench_engine MODEL --plan PLAN.json [--threads 2] [engine options]
// lmdeploy bench_engine MODEL --concurrency 8 --prompt 128 --completion 128 --num 16
//
// PLAN.json: {"scenarios": [{"name": "c8_p128_g128", "concurrency": 8, "warmup": 8,
//                            "requests": [[prompt_tokens, completion_tokens], ...]}, ...]}
// Each scenario runs its requests with at most `concurrency` in flight (one client thread
// per slot pulls the next request when its previous one finishes, as lmdeploy's profilers
// do). Prompts are fixed-seed random token ids; generation ignores eos so every request
// produces exactly its completion length. Output: one JSON line with the setup, then one
// line per scenario: {"scenario", "concurrency", "wall_s", "cpu_s", "requests": [{"prompt",
// "max_new", "start", "t": [chunk arrival times], "n": [tokens per chunk], "finish",
// "completion_tokens", "error"}], "stats": {...}}; times in seconds from the scenario start.
// "stats" are engine counters over the scenario (a snapshot published after each step, so
// they may miss the scenario's last step: informative, not exact).
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/engine_options.h"
#include "core/cpu_features.h"
#include "core/error.h"
#include "core/quant_policy.h"
#include "lmdeploy/engine.h"

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct BenchEngineArgs {
  BenchEngineArgs() {
    // Defaults of this command (the profilers rely on them): 2 threads, fp16 KV, and 0 for
    // what run_bench_engine sizes from the scenarios.
    engine.threads = 2;
    engine.quant_policy = lmd::kQuantPolicyFp16;
    engine.cache_max_entry_count = 0;
  }
  std::string model, plan;
  int concurrency = 1, prompt = 128, completion = 128, num = 0, warmup = -1;
  int cache_blocks = 0;
  lmd::EngineConfig engine;
  float temperature = 0.0f;
  uint64_t seed = 1;
};

struct Spec {
  int prompt = 0, completion = 0;
};

struct Scenario {
  std::string name;
  int concurrency = 1, warmup = 0;
  std::vector<Spec> requests;
};

// One request's timeline, filled by its client thread.
struct Record {
  double start = 0;
  std::vector<double> t;
  std::vector<int> n;
  std::string finish, error;
  int completion_tokens = 0;
};

double cpu_now() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

std::vector<Scenario> read_plan(const std::string& path) {
  json j;
  try {
    if (path == "-") {
      j = json::parse(std::cin);
    } else {
      std::ifstream f(path);
      LMD_CHECK(f.good()) << "bench_engine: cannot open --plan " << path;
      j = json::parse(f);
    }
  } catch (const json::exception& e) {
    throw lmd::Error("bench_engine: --plan " + path + " is not valid JSON: " + e.what());
  }
  LMD_CHECK(j.is_object() && j.contains("scenarios") && j["scenarios"].is_array())
      << "bench_engine: --plan " << path << " needs {\"scenarios\": [...]}";
  std::vector<Scenario> out;
  for (const json& s : j["scenarios"]) {
    Scenario sc;
    LMD_CHECK(s.is_object() && s.contains("requests") && s["requests"].is_array())
        << "bench_engine: --plan " << path << ": scenario " << out.size() << " has no \"requests\" list";
    sc.name = s.value("name", "scenario" + std::to_string(out.size()));
    sc.concurrency = s.value("concurrency", 1);
    sc.warmup = s.value("warmup", 0);
    LMD_CHECK(sc.concurrency >= 1 && sc.concurrency <= 4096)
        << "bench_engine: scenario '" << sc.name << "': concurrency " << sc.concurrency << " (1..4096)";
    LMD_CHECK(sc.warmup >= 0) << "bench_engine: scenario '" << sc.name << "': warmup " << sc.warmup;
    for (const json& r : s["requests"]) {
      LMD_CHECK(r.is_array() && r.size() == 2 && r[0].is_number_integer() && r[1].is_number_integer())
          << "bench_engine: scenario '" << sc.name << "': a request must be [prompt_tokens, completion_tokens], got "
          << r.dump();
      Spec sp{r[0].get<int>(), r[1].get<int>()};
      LMD_CHECK(sp.prompt >= 1 && sp.completion >= 1)
          << "bench_engine: scenario '" << sc.name << "': request " << r.dump() << " (both lengths must be >= 1)";
      sc.requests.push_back(sp);
    }
    LMD_CHECK(!sc.requests.empty()) << "bench_engine: scenario '" << sc.name << "' has no requests";
    out.push_back(std::move(sc));
  }
  LMD_CHECK(!out.empty()) << "bench_engine: --plan " << path << " has no scenarios";
  return out;
}

// Fixed-seed prompt of `len` ids from the upper 7/8 of the vocabulary (special tokens sit
// at the low end of the vocabularies we serve, and a prompt should look like text).
std::vector<int32_t> make_prompt(int len, int vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const int lo = vocab >= 64 ? vocab / 8 : 0;
  std::uniform_int_distribution<int32_t> d(lo, vocab - 1);
  std::vector<int32_t> ids(static_cast<size_t>(len));
  for (auto& t : ids) t = d(rng);
  return ids;
}

// Runs `specs` with at most `concurrency` requests in flight; returns one record per spec.
std::vector<Record> run_load(lmd::Engine& engine, const std::vector<Spec>& specs, int concurrency, float temperature,
                             uint64_t seed, Clock::time_point t0) {
  std::vector<Record> rec(specs.size());
  std::atomic<size_t> next{0};
  const int vocab = engine.info().vocab_size;
  auto since = [t0] { return std::chrono::duration<double>(Clock::now() - t0).count(); };
  auto client = [&] {
    for (size_t i = next.fetch_add(1); i < specs.size(); i = next.fetch_add(1)) {
      lmd::Request req;
      req.prompt_ids = make_prompt(specs[i].prompt, vocab, seed * 1000003u + i);
      req.gen.max_new_tokens = specs[i].completion;
      req.gen.ignore_eos = true;
      req.gen.temperature = temperature;
      req.gen.top_k = temperature > 0 ? 50 : 1;
      req.gen.seed = seed + i;
      Record& r = rec[i];
      r.start = since();
      auto stream = engine.submit(std::move(req));
      while (auto out = stream->next()) {
        const double now = since();
        if (!out->token_ids.empty()) {
          r.t.push_back(now);
          r.n.push_back(static_cast<int>(out->token_ids.size()));
        }
        if (!out->finish_reason.empty()) {
          r.finish = out->finish_reason;
          r.error = out->error;
          r.completion_tokens = out->usage.completion_tokens;
        }
      }
    }
  };
  const int n_threads = std::min<int>(concurrency, static_cast<int>(specs.size()));
  std::vector<std::thread> th;
  th.reserve(static_cast<size_t>(n_threads));
  for (int k = 0; k < n_threads; ++k) th.emplace_back(client);
  for (auto& x : th) x.join();
  return rec;
}

json stats_json(const lmd::EngineStats& s) {
  return {{"steps", s.steps},
          {"prefill_tokens", s.prefill_tokens},
          {"decode_tokens", s.decode_tokens},
          {"preemptions", s.preemptions},
          {"requests_finished", s.requests_finished},
          {"kv_blocks_total", s.kv_blocks_total},
          {"kv_block_len", s.kv_block_len}};
}

double peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // Linux: KiB
}

void run_bench_engine(const BenchEngineArgs& a) {
  std::vector<Scenario> scenarios;
  if (!a.plan.empty()) {
    scenarios = read_plan(a.plan);
  } else {
    LMD_CHECK(a.concurrency >= 1 && a.prompt >= 1 && a.completion >= 1)
        << "bench_engine: --concurrency " << a.concurrency << " --prompt " << a.prompt << " --completion "
        << a.completion << " (all >= 1)";
    Scenario sc;
    sc.concurrency = a.concurrency;
    sc.name = "c" + std::to_string(a.concurrency) + "_p" + std::to_string(a.prompt) + "_g" +
              std::to_string(a.completion);
    sc.requests.assign(static_cast<size_t>(a.num > 0 ? a.num : a.concurrency), Spec{a.prompt, a.completion});
    sc.warmup = a.warmup >= 0 ? a.warmup : a.concurrency;
    scenarios.push_back(std::move(sc));
  }
  LMD_CHECK(a.engine.threads >= 1) << "bench_engine: --threads " << a.engine.threads;
  const int block_len = a.engine.cache_block_seq_len;
  LMD_CHECK(block_len >= 1) << "bench_engine: --cache-block-seq-len " << block_len;

  // Size the engine for the largest scenario: every slot may hold the longest request.
  int longest = 0, max_conc = 1, blocks = 0;
  for (const auto& sc : scenarios) {
    int l = 0;
    for (const auto& r : sc.requests) l = std::max(l, r.prompt + r.completion);
    longest = std::max(longest, l);
    const int conc = std::min<int>(sc.concurrency, static_cast<int>(sc.requests.size()));
    max_conc = std::max(max_conc, conc);
    blocks = std::max(blocks, conc * ((l + 1 + block_len - 1) / block_len));
  }
  lmd::EngineConfig cfg = a.engine;
  if (cfg.session_len <= 0) cfg.session_len = longest + 8;
  if (cfg.max_batch_size <= 0) cfg.max_batch_size = max_conc;
  if (a.cache_blocks > 0) {
    cfg.cache_max_entry_count = static_cast<float>(a.cache_blocks);
  } else if (cfg.cache_max_entry_count <= 0) {
    cfg.cache_max_entry_count = static_cast<float>(blocks + max_conc);
  }

  const auto t_load = Clock::now();
  auto engine = lmd::Engine::create(a.model, cfg);
  const double load_s = std::chrono::duration<double>(Clock::now() - t_load).count();
  json head = {{"engine", "lmdeploy"},
               {"isa", lmd::cpu_isa_name(lmd::cpu_isa())},
               {"threads", cfg.threads},
               {"numerics", cfg.numerics},
               {"tp", cfg.tp},
               {"quant_policy", cfg.quant_policy},
               {"session_len", cfg.session_len},
               {"max_batch_size", cfg.max_batch_size},
               {"cache_blocks", static_cast<int>(cfg.cache_max_entry_count)},
               {"block_len", block_len},
               {"vocab_size", engine->info().vocab_size},
               {"load_s", load_s}};
  std::cout << head.dump() << std::endl;

  for (const auto& sc : scenarios) {
    if (sc.warmup > 0) {
      // Same prompt shapes, short answers: touches the KV pool and the kernels' buffers.
      std::vector<Spec> w;
      for (int i = 0; i < sc.warmup; ++i) {
        const Spec& s = sc.requests[static_cast<size_t>(i) % sc.requests.size()];
        w.push_back(Spec{s.prompt, std::min(s.completion, 4)});
      }
      run_load(*engine, w, sc.concurrency, a.temperature, a.seed + 7777, Clock::now());
    }
    const lmd::EngineStats before = engine->stats();
    const auto t0 = Clock::now();
    const double c0 = cpu_now();
    std::vector<Record> rec = run_load(*engine, sc.requests, sc.concurrency, a.temperature, a.seed, t0);
    const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    const double cpu = cpu_now() - c0;
    const lmd::EngineStats after = engine->stats();
    json reqs = json::array();
    for (size_t i = 0; i < rec.size(); ++i) {
      reqs.push_back({{"prompt", sc.requests[i].prompt},
                      {"max_new", sc.requests[i].completion},
                      {"start", rec[i].start},
                      {"t", rec[i].t},
                      {"n", rec[i].n},
                      {"finish", rec[i].finish},
                      {"completion_tokens", rec[i].completion_tokens},
                      {"error", rec[i].error}});
    }
    json st = stats_json(after);
    st["steps"] = after.steps - before.steps;
    st["prefill_tokens"] = after.prefill_tokens - before.prefill_tokens;
    st["decode_tokens"] = after.decode_tokens - before.decode_tokens;
    st["preemptions"] = after.preemptions - before.preemptions;
    st["requests_finished"] = after.requests_finished - before.requests_finished;
    json line = {{"scenario", sc.name},     {"concurrency", sc.concurrency}, {"wall_s", wall},
                 {"cpu_s", cpu},            {"peak_rss_mib", peak_rss_mib()}, {"requests", std::move(reqs)},
                 {"stats", std::move(st)}};
    std::cout << line.dump() << std::endl;
  }
}

LMD_REGISTER_COMMAND(97, [](CLI::App& root) {
  using lmd::cli::flag;
  auto a = std::make_shared<BenchEngineArgs>();
  CLI::App* c = root.add_subcommand("bench_engine", "the Engine under concurrent load, per-chunk timestamps (JSON)");
  c->group("");  // hidden: driven by tools/profile_generation.py and tools/profile_throughput.py
  c->add_option("model", a->model, "GGUF file, HF directory or workspace")->required();
  c->add_option("--plan", a->plan, "scenarios as JSON ({\"scenarios\": [...]}; '-' = stdin)");
  c->add_option("--concurrency", a->concurrency, "without --plan: requests in flight");
  c->add_option(flag("prompt"), a->prompt, "without --plan: prompt tokens");
  c->add_option(flag("completion"), a->completion, "without --plan: tokens generated per request");
  c->add_option("--num", a->num, "without --plan: requests (0 = concurrency)");
  c->add_option("--warmup", a->warmup, "without --plan: warm-up requests (-1 = concurrency)");
  c->add_option(flag("cache_blocks"), a->cache_blocks, "KV blocks (0: --cache-max-entry-count)");
  lmd::cli::add_engine_options(c, a->engine);
  c->footer("session_len, max_batch_size and cache_max_entry_count 0 (with --cache-blocks 0): sized for the largest "
            "scenario (every slot may hold its longest request).");
  c->add_option("--temperature", a->temperature, "0 = greedy");
  c->add_option("--seed", a->seed, "prompts and sampling seed");
  c->callback([a] { run_bench_engine(*a); });
});

}  // namespace
