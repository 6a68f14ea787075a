// The api_server's own counters and latency histograms, rendered with the engine's stats as
// Prometheus text (GET /metrics). Names are listed in docs/serving.md.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "lmdeploy/engine.h"

namespace lmd::serve {

// A Prometheus histogram: cumulative buckets on output, plain counts inside.
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);
  // `name_bucket{le=...}`, `name_sum`, `name_count` lines.
  std::string render(const std::string& name, const std::string& help) const;
  uint64_t count() const;

 private:
  mutable std::mutex mu_;
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // one per bound + the +Inf bucket
  double sum_ = 0.0;
  uint64_t count_ = 0;
};

class ServerMetrics {
 public:
  ServerMetrics();

  // One finished generation request (one choice): seconds to its first token, seconds per
  // later token (excluded when it produced < 2 tokens), seconds end to end.
  void record_request(double ttft_s, double tpot_s, int output_tokens, double e2e_s, const Usage& usage,
                      const std::string& finish_reason);
  void record_http_error(int status);

  std::atomic<int> in_flight{0};  // generation requests being served right now

  std::string render(const EngineStats& stats) const;

 private:
  Histogram ttft_, tpot_, e2e_;
  std::atomic<int64_t> prompt_tokens_{0}, generation_tokens_{0};
  std::atomic<int64_t> finished_stop_{0}, finished_length_{0}, finished_cancelled_{0}, finished_error_{0};
  std::atomic<int64_t> errors_4xx_{0}, errors_5xx_{0};
};

}  // namespace lmd::serve
