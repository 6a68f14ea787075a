// Hidden developer benchmarks (tools/compare_peers.py drives them):
//
// lmdeploy bench_membw [--threads 2] [--mib 256] [--reps 5]
//   STREAM-like read bandwidth: each thread sums its share of a buffer much larger than the
//   last-level cache; prints GB/s (best of --reps). The roofline of batch-1 decode is
//   weight bytes per step / this figure.
// lmdeploy bench_peers MODEL [--threads 2] [--pp 512] [--tg 128] [--seqs "8 32 64"]
//                      [--prompt 128] [--gen 128] [--reps 2] [--kv f16] [--exact] [--json]
//   The figures llama.cpp's llama-bench / batched-bench report, through Model::forward with
//   the same shapes: prefill of --pp tokens in one step; --tg decode steps of one sequence
//   from an empty cache; for each n in --seqs, n sequences of --prompt tokens prefilled
//   (one step) then --gen decode steps of all n together: aggregate decode tok/s.
//   Token ids are fixed (no sampling), as in llama.cpp's benchmarks.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "cli/command.h"
#include "cli/engine_options.h"
#include "core/cpu_features.h"
#include "core/error.h"
#include "common/thread_pool.h"
#include "convert/load_model.h"
#include "model/llama.h"

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }
// CPU seconds of the whole process (all threads): tokens per CPU-second is the figure that
// survives a loaded machine (with --threads 1, where no thread spins waiting).
double cpu_now() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}
struct Timing {
  double wall = 1e30, cpu = 1e30;
  void keep_best(double w, double c) {
    wall = std::min(wall, w);
    cpu = std::min(cpu, c);
  }
};

struct MembwArgs {
  int threads = 2, mib = 256, reps = 5;
};

void run_membw(const MembwArgs& a) {
  LMD_CHECK(a.mib >= 16 && a.mib <= 16384) << "--mib " << a.mib << " (16..16384)";
  LMD_CHECK(a.threads >= 1) << "--threads " << a.threads;
  const size_t n = static_cast<size_t>(a.mib) << 18;  // uint32 words
  uint32_t* buf = static_cast<uint32_t*>(std::aligned_alloc(64, n * 4));
  LMD_CHECK_KIND(buf != nullptr, kResourceExhausted) << "bench_membw: cannot allocate " << a.mib << " MiB";
  lmd::ThreadPool pool(a.threads);
  // First touch by the thread that will read each share.
  pool.run([&](int tid, int nt) {
    const auto [b, e] = lmd::ThreadPool::split(static_cast<int64_t>(n), tid, nt, 16);
    for (int64_t i = b; i < e; ++i) buf[i] = static_cast<uint32_t>(i);
  });
  std::vector<uint64_t> sums(static_cast<size_t>(a.threads) * 8, 0);
  double best = 1e30;
  for (int r = 0; r < a.reps; ++r) {
    const auto t0 = Clock::now();
    pool.run([&](int tid, int nt) {
      const auto [b, e] = lmd::ThreadPool::split(static_cast<int64_t>(n), tid, nt, 16);
      // Eight independent accumulators: the compiler vectorises this into wide loads.
      uint32_t acc[16] = {0};
      for (int64_t i = b; i < e; i += 16)
        for (int j = 0; j < 16; ++j) acc[j] ^= buf[i + j];
      uint64_t s = 0;
      for (uint32_t v : acc) s += v;
      sums[static_cast<size_t>(tid) * 8] += s;
    });
    best = std::min(best, since(t0));
  }
  uint64_t chk = 0;
  for (uint64_t s : sums) chk += s;
  std::free(buf);
  const double gbs = static_cast<double>(n) * 4 / best / 1e9;
  std::printf("{\"membw_read_gb_s\": %.2f, \"threads\": %d, \"mib\": %d, \"checksum\": %llu}\n", gbs, a.threads,
              a.mib, static_cast<unsigned long long>(chk % 1000));
}

struct PeersArgs {
  std::string model, seqs = "8 32 64", kv = "f16";
  int threads = 2, pp = 512, tg = 128, prompt = 128, gen = 128, reps = 2;
  bool exact = false;
};

std::vector<int> parse_counts(const std::string& s) {
  std::string t = s;
  std::replace(t.begin(), t.end(), ',', ' ');
  std::istringstream in(t);
  std::vector<int> v;
  int x = 0;
  while (in >> x) {
    LMD_CHECK(x >= 1 && x <= 4096) << "--seqs: " << x << " sequences (1..4096)";
    v.push_back(x);
  }
  LMD_CHECK(in.eof()) << "--seqs: '" << s << "' is not a list of integers";
  return v;
}

// n sequences, each with its own contiguous run of blocks for `len` positions.
struct Seqs {
  std::vector<std::vector<int32_t>> tables;
};

int32_t tok(int64_t i, int vocab) { return static_cast<int32_t>((i * 7919 + 13) % vocab); }

// Prefill n sequences of `prompt` tokens in one step, then `gen` decode steps of all n.
// Returns the decode phase's wall and CPU seconds.
Timing run_batch(lmd::Model& m, int n, int prompt, int gen, int bl, std::vector<float>& logits) {
  const int vocab = m.config().vocab_size;
  const int per_seq = (prompt + gen + bl - 1) / bl;
  lmd::StepPlan p;
  for (int s = 0; s < n; ++s) {
    lmd::StepSequence q;
    q.seq_id = s;
    q.token_offset = static_cast<int32_t>(p.tokens.size());
    q.n_tokens = prompt;
    q.history_len = 0;
    q.need_logits = true;
    for (int b = 0; b < per_seq; ++b) q.block_table.push_back(s * per_seq + b);
    for (int i = 0; i < prompt; ++i) p.tokens.push_back(tok(s * 131 + i, vocab));
    p.seqs.push_back(std::move(q));
  }
  logits.resize(static_cast<size_t>(n) * vocab);
  if (prompt > 0) m.forward(p, logits.data());
  p.tokens.assign(n, 0);
  for (int s = 0; s < n; ++s) {
    p.seqs[s].token_offset = s;
    p.seqs[s].n_tokens = 1;
  }
  const auto t0 = Clock::now();
  const double c0 = cpu_now();
  for (int step = 0; step < gen; ++step) {
    for (int s = 0; s < n; ++s) {
      p.tokens[s] = tok(step * 17 + s, vocab);
      p.seqs[s].history_len = prompt + step;
    }
    m.forward(p, logits.data());
  }
  Timing t;
  t.keep_best(since(t0), cpu_now() - c0);
  return t;
}

void run_peers(const PeersArgs& a) {
  const std::vector<int> seqs = parse_counts(a.seqs);
  LMD_CHECK(a.pp >= 0 && a.tg >= 0 && a.prompt >= 0 && a.gen >= 1 && a.reps >= 1)
      << "bench_peers: --pp " << a.pp << " --tg " << a.tg << " --prompt " << a.prompt << " --gen " << a.gen
      << " --reps " << a.reps;
  lmd::ModelWeights w = lmd::load_model_weights(a.model);
  lmd::ModelRuntimeOptions o;
  o.threads = a.threads;
  o.exact = a.exact;
  o.kv_kind = lmd::cli::parse_kv_flag(a.kv);
  const int bl = o.block_len;
  int32_t blocks = (std::max(a.pp, a.tg) + bl - 1) / bl;
  for (int n : seqs) blocks = std::max(blocks, n * ((a.prompt + a.gen + bl - 1) / bl));
  o.kv_num_blocks = blocks;
  const auto t_load = Clock::now();
  auto model = lmd::create_llama_model(std::move(w), o);  // host copies freed as uploaded
  const double load_s = since(t_load);
  std::vector<float> logits;
  Timing pp, tg;
  if (a.pp > 0) {
    for (int r = 0; r < a.reps + 1; ++r) {  // first run warms up
      lmd::StepPlan p;
      lmd::StepSequence q;
      q.n_tokens = a.pp;
      q.need_logits = true;
      for (int b = 0; b * bl < a.pp; ++b) q.block_table.push_back(b);
      for (int i = 0; i < a.pp; ++i) p.tokens.push_back(tok(i, model->config().vocab_size));
      p.seqs.push_back(q);
      logits.resize(static_cast<size_t>(model->config().vocab_size));
      const auto t0 = Clock::now();
      const double c0 = cpu_now();
      model->forward(p, logits.data());
      if (r > 0) pp.keep_best(since(t0), cpu_now() - c0);
    }
  }
  if (a.tg > 0)
    for (int r = 0; r < a.reps; ++r) {
      const Timing t = run_batch(*model, 1, 0, a.tg, bl, logits);
      tg.keep_best(t.wall, t.cpu);
    }
  std::printf("{\"engine\": \"lmdeploy\", \"isa\": \"%s\", \"threads\": %d, \"exact\": %s, \"kv\": \"%s\", "
              "\"load_s\": %.3f, \"pp\": %d, \"pp_tok_s\": %.2f, \"pp_tok_cpu_s\": %.2f, \"tg\": %d, "
              "\"tg_tok_s\": %.2f, \"tg_tok_cpu_s\": %.2f, \"prompt\": %d, \"gen\": %d",
              lmd::cpu_isa_name(lmd::cpu_isa()), a.threads, a.exact ? "true" : "false", a.kv.c_str(), load_s, a.pp,
              a.pp / pp.wall, a.pp / pp.cpu, a.tg, a.tg / tg.wall, a.tg / tg.cpu, a.prompt, a.gen);
  std::string wall_s, cpu_s;
  for (size_t i = 0; i < seqs.size(); ++i) {
    Timing best;
    for (int r = 0; r < a.reps; ++r) {
      const Timing t = run_batch(*model, seqs[i], a.prompt, a.gen, bl, logits);
      best.keep_best(t.wall, t.cpu);
    }
    const double tokens = static_cast<double>(seqs[i]) * a.gen;
    char buf[96];
    std::snprintf(buf, sizeof buf, "%s\"%d\": %.2f", i ? ", " : "", seqs[i], tokens / best.wall);
    wall_s += buf;
    std::snprintf(buf, sizeof buf, "%s\"%d\": %.2f", i ? ", " : "", seqs[i], tokens / best.cpu);
    cpu_s += buf;
  }
  std::printf(", \"batched\": {%s}, \"batched_cpu\": {%s}}\n", wall_s.c_str(), cpu_s.c_str());
}

LMD_REGISTER_COMMAND(96, [](CLI::App& root) {
  auto m = std::make_shared<MembwArgs>();
  CLI::App* mc = root.add_subcommand("bench_membw", "STREAM-like memory read bandwidth (GB/s)");
  mc->group("");  // hidden: a developer tool
  mc->add_option("--threads", m->threads, "threads");
  mc->add_option("--mib", m->mib, "buffer size in MiB (much larger than the last-level cache)");
  mc->add_option("--reps", m->reps, "repetitions (best is reported)");
  mc->callback([m] { run_membw(*m); });

  auto p = std::make_shared<PeersArgs>();
  CLI::App* pc = root.add_subcommand("bench_peers", "pp/tg/batched decode figures as llama.cpp's benchmarks");
  pc->group("");
  pc->add_option("model", p->model, "GGUF file, HF directory or workspace")->required();
  pc->add_option("--threads", p->threads, "threads");
  pc->add_option("--pp", p->pp, "prefill tokens (0 = skip)");
  pc->add_option("--tg", p->tg, "batch-1 decode steps from an empty cache (0 = skip)");
  pc->add_option("--seqs", p->seqs, "concurrent sequence counts, e.g. \"8 32 64\" (\"\" = none)");
  pc->add_option("--prompt", p->prompt, "prompt tokens per concurrent sequence");
  pc->add_option("--gen", p->gen, "decode steps per concurrent run");
  pc->add_option("--reps", p->reps, "repetitions (best is reported)");
  pc->add_option("--kv", p->kv, "KV cache kind: f32, or a quant policy (f16, int8, int4, ...)");
  pc->add_flag("--exact", p->exact, "fp32 activations");
  pc->callback([p] { run_peers(*p); });
});

}  // namespace
