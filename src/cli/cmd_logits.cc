// lmdeploy logits MODEL --tokens "1 2 3" --out FILE [--exact | --numerics fast|exact|llama.cpp]
//                [--kv f32|f16|int8|int4] [--threads N]
//   Teacher-forced logits [n_tokens, vocab] as float32: raw little-endian, or .npy when FILE
//   ends with ".npy". The oracle comparison lives in tests/python/test_logits.py.
// lmdeploy bench_forward MODEL [--threads N] [--prefill 512] [--batches "1 8 32"] [--steps 64]
//   Forward-pass speed without the engine: prefill tok/s and decode tok/s per batch size.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "cli/command.h"
#include "cli/engine_options.h"
#include "core/error.h"
#include "core/cpu_features.h"
#include "convert/load_model.h"
#include "model/forward_runner.h"
#include "model/llama.h"

namespace {

struct LogitsArgs {
  std::string model, tokens, out, kv = "f16", numerics = "fast";
  bool exact = false;
  int threads = 0;
};

struct BenchArgs {
  std::string model, kv = "f16", batches = "1 8 32";
  bool exact = false;
  int threads = 0, prefill = 512, steps = 64;
};

std::vector<int32_t> parse_int_list(const std::string& s, const char* what) {
  std::string spaced = s;
  for (char& c : spaced)
    if (c == ',') c = ' ';
  std::istringstream in(spaced);
  std::vector<int32_t> v;
  std::string w;
  while (in >> w) {
    try {
      size_t used = 0;
      const long long x = std::stoll(w, &used);
      LMD_CHECK(used == w.size() && x >= 0 && x <= INT32_MAX) << what << ": '" << w << "' is not a non-negative id";
      v.push_back(static_cast<int32_t>(x));
    } catch (const std::logic_error&) {
      throw lmd::Error(std::string(what) + ": '" + w + "' is not an integer");
    }
  }
  return v;
}

void write_logits(const std::string& path, const std::vector<float>& v, size_t rows, size_t cols) {
  std::ofstream f(path, std::ios::binary);
  LMD_CHECK(f.good()) << "--out: cannot write " << path;
  if (path.size() >= 4 && path.compare(path.size() - 4, 4, ".npy") == 0) {
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(rows) + ", " +
                         std::to_string(cols) + "), }";
    while ((10 + header.size() + 1) % 64 != 0) header += ' ';
    header += '\n';
    const uint16_t hlen = static_cast<uint16_t>(header.size());
    f.write("\x93NUMPY\x01\x00", 8);
    f.write(reinterpret_cast<const char*>(&hlen), 2);
    f.write(header.data(), static_cast<std::streamsize>(header.size()));
  }
  f.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(float)));
  LMD_CHECK(f.good()) << "--out: error writing " << path;
}

void run_logits(const LogitsArgs& a) {
  const std::vector<int32_t> ids = parse_int_list(a.tokens, "--tokens");
  LMD_CHECK(!ids.empty()) << "--tokens: no token ids given";
  lmd::ModelWeights w = lmd::load_model_weights(a.model);
  const size_t vocab = static_cast<size_t>(w.config.vocab_size);
  lmd::ModelRuntimeOptions o;
  o.threads = a.threads;
  o.exact = a.exact || a.numerics == "exact";
  o.llamacpp_numerics = a.numerics == "llama.cpp";
  o.kv_kind = lmd::cli::parse_kv_flag(a.kv);
  o.kv_num_blocks = static_cast<int32_t>((ids.size() + o.block_len - 1) / o.block_len);
  auto model = lmd::create_llama_model(std::move(w), o);  // host copies freed as uploaded
  const std::vector<float> logits = lmd::teacher_forced_logits(*model, ids);
  write_logits(a.out, logits, ids.size(), vocab);
}

void run_bench(const BenchArgs& a) {
  lmd::BenchForwardOptions b;
  b.prefill_tokens = a.prefill;
  b.decode_steps = a.steps;
  b.decode_batches.clear();
  for (int32_t x : parse_int_list(a.batches, "--batches")) b.decode_batches.push_back(x);
  lmd::ModelWeights w = lmd::load_model_weights(a.model);
  lmd::ModelRuntimeOptions o;
  o.threads = a.threads;
  o.exact = a.exact;
  o.kv_kind = lmd::cli::parse_kv_flag(a.kv);
  int max_batch = 1;
  for (int x : b.decode_batches) max_batch = std::max(max_batch, x);
  const int per_seq = (b.context + b.decode_steps + o.block_len - 1) / o.block_len;
  o.kv_num_blocks = std::max((b.prefill_tokens + o.block_len - 1) / o.block_len, max_batch * per_seq);
  auto model = lmd::create_llama_model(std::move(w), o);
  const lmd::BenchForwardResult r = lmd::bench_forward(*model, b);
  std::printf("model: %s  isa: %s  threads: %d  kv: %s  exact: %d\n", a.model.c_str(),
              lmd::cpu_isa_name(lmd::cpu_isa()), a.threads, a.kv.c_str(), a.exact ? 1 : 0);
  if (b.prefill_tokens > 0) std::printf("prefill %d: %.1f tok/s\n", b.prefill_tokens, r.prefill_tok_s);
  for (const auto& [batch, tps] : r.decode_tok_s) std::printf("decode batch %d: %.1f tok/s\n", batch, tps);
}

LMD_REGISTER_COMMAND(85, [](CLI::App& root) {
  auto a = std::make_shared<LogitsArgs>();
  CLI::App* c = root.add_subcommand("logits", "Teacher-forced logits of a token sequence (for testing)");
  c->add_option("model", a->model, "GGUF file, HF directory or workspace")->required();
  c->add_option("--tokens", a->tokens, "token ids, space or comma separated")->required();
  c->add_option("--out", a->out, "output file (raw float32, or .npy)")->required();
  c->add_flag("--exact", a->exact, "fp32 activations (no int8 activation quantisation)");
  c->add_option("--numerics", a->numerics, "fast | exact | llama.cpp (its CPU float ops, slow)")
      ->check(CLI::IsMember({"fast", "exact", "llama.cpp"}));
  c->add_option("--kv", a->kv, "KV cache kind: f32, or a quant policy (f16, int8, int4, ...)");
  c->add_option("--threads", a->threads, "threads (0 = all cores)");
  c->callback([a] { run_logits(*a); });

  auto b = std::make_shared<BenchArgs>();
  CLI::App* bc = root.add_subcommand("bench_forward", "Forward-pass speed: prefill and batched decode");
  bc->group("");  // hidden from the help listing: a developer tool
  bc->add_option("model", b->model, "GGUF file, HF directory or workspace")->required();
  bc->add_option("--threads", b->threads, "threads (0 = all cores)");
  bc->add_option("--prefill", b->prefill, "prompt tokens of the prefill measurement (0 = skip)");
  bc->add_option("--batches", b->batches, "decode batch sizes, e.g. \"1 8 32\"");
  bc->add_option("--steps", b->steps, "decode steps per batch size");
  bc->add_option("--kv", b->kv, "KV cache kind: f32, or a quant policy (f16, int8, int4, ...)");
  bc->add_flag("--exact", b->exact, "fp32 activations");
  bc->callback([b] { run_bench(*b); });
});

}  // namespace
