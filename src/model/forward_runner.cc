#include "model/forward_runner.h"

#include <algorithm>
#include <chrono>

#include "core/error.h"

namespace lmd {
namespace {

// Blocks [first, first + n) for a sequence of `positions` tokens.
std::vector<int32_t> block_range(const Model& m, int32_t first, int64_t positions) {
  const int bl = m.kv_layout().block_len;
  const int32_t n = static_cast<int32_t>((positions + bl - 1) / bl);
  LMD_CHECK(first + n <= m.kv_num_blocks()) << "KV pool too small: " << first + n << " blocks needed, "
                                            << m.kv_num_blocks() << " in the pool";
  std::vector<int32_t> t(n);
  for (int32_t i = 0; i < n; ++i) t[i] = first + i;
  return t;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

std::vector<float> teacher_forced_logits(Model& model, const std::vector<int32_t>& ids) {
  const int vocab = model.config().vocab_size;
  std::vector<float> out(ids.size() * static_cast<size_t>(vocab));
  const auto table = block_range(model, 0, static_cast<int64_t>(ids.size()));
  for (size_t i = 0; i < ids.size(); ++i)
    model.forward(single_sequence_plan({ids[i]}, static_cast<int32_t>(i), table), out.data() + i * vocab);
  return out;
}

std::vector<int32_t> greedy_generate(Model& model, const std::vector<int32_t>& prompt, int max_new,
                                     int32_t stop_id) {
  LMD_CHECK(!prompt.empty()) << "greedy_generate: empty prompt";
  const int vocab = model.config().vocab_size;
  const auto table = block_range(model, 0, static_cast<int64_t>(prompt.size()) + max_new);
  std::vector<float> logits(vocab);
  std::vector<int32_t> out;
  std::vector<int32_t> step = prompt;  // the tokens computed next: the prompt, then one at a time
  int32_t history = 0;
  for (int i = 0; i < max_new; ++i) {
    model.forward(single_sequence_plan(step, history, table), logits.data());
    const int32_t next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    out.push_back(next);
    if (next == stop_id) break;
    history += static_cast<int32_t>(step.size());
    step = {next};
  }
  return out;
}

BenchForwardResult bench_forward(Model& model, const BenchForwardOptions& opt) {
  BenchForwardResult r;
  const int vocab = model.config().vocab_size;
  std::vector<float> logits;
  auto token = [&](int64_t i) { return static_cast<int32_t>((i * 7919 + 13) % vocab); };
  if (opt.prefill_tokens > 0) {
    std::vector<int32_t> prompt;
    for (int i = 0; i < opt.prefill_tokens; ++i) prompt.push_back(token(i));
    const StepPlan p = single_sequence_plan(prompt, 0, block_range(model, 0, opt.prefill_tokens));
    logits.resize(vocab);
    double best = 1e30;
    for (int rep = 0; rep < opt.repeats + 1; ++rep) {  // first run warms up
      const auto t0 = std::chrono::steady_clock::now();
      model.forward(p, logits.data());
      if (rep > 0) best = std::min(best, seconds_since(t0));
    }
    r.prefill_tok_s = opt.prefill_tokens / best;
  }
  const int bl = model.kv_layout().block_len;
  const int64_t len = opt.context + opt.decode_steps;
  const int32_t per_seq = static_cast<int32_t>((len + bl - 1) / bl);
  for (int batch : opt.decode_batches) {
    std::vector<std::vector<int32_t>> tables;
    for (int b = 0; b < batch; ++b) tables.push_back(block_range(model, b * per_seq, len));
    logits.resize(static_cast<size_t>(batch) * vocab);
    double best = 1e30;
    for (int rep = 0; rep < opt.repeats; ++rep) {
      StepPlan prompts;  // all in one step
      for (int b = 0; b < batch; ++b) {
        std::vector<int32_t> ids;
        for (int i = 0; i < opt.context; ++i) ids.push_back(token(b * 31 + i));
        append_sequence(&prompts, ids.data(), opt.context, 0, tables[b], true);
      }
      model.forward(prompts, logits.data());
      StepPlan p;  // one decode row per sequence; tokens and history advance in place
      const int32_t none = 0;
      for (int b = 0; b < batch; ++b) append_sequence(&p, &none, 1, opt.context, tables[b], true);
      const auto t0 = std::chrono::steady_clock::now();
      for (int step = 0; step < opt.decode_steps; ++step) {
        for (int b = 0; b < batch; ++b) {
          p.tokens[b] = token(step * 17 + b);
          p.seqs[b].history_len = opt.context + step;
        }
        model.forward(p, logits.data());
      }
      best = std::min(best, seconds_since(t0));
    }
    r.decode_tok_s.emplace_back(batch, static_cast<double>(batch) * opt.decode_steps / best);
  }
  return r;
}

}  // namespace lmd
