#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace lmd {

namespace {
constexpr float kBanned = -std::numeric_limits<float>::infinity();

// Higher logit first; ties broken by the lower token id so results never depend on the
// sort's internals.
bool better(const std::pair<float, int32_t>& a, const std::pair<float, int32_t>& b) {
  return a.first > b.first || (a.first == b.first && a.second < b.second);
}
}  // namespace

RequestSampler::RequestSampler(const GenerationConfig& cfg, int32_t eos_id, const std::vector<int32_t>& history,
                               uint64_t default_seed)
    : cfg_(cfg), eos_id_(eos_id), rng_(cfg.seed ? *cfg.seed : default_seed) {
  for (int32_t t : history) ++seen_[t];
}

double RequestSampler::uniform() {
  if (has_drawn_) {
    has_drawn_ = false;
    return drawn_;
  }
  return static_cast<double>(rng_() >> 11) * 0x1.0p-53;
}

double RequestSampler::draw_uniform() {
  if (greedy()) return 0.0;
  if (!has_drawn_) {
    drawn_ = uniform();
    has_drawn_ = true;
  }
  return drawn_;
}

SamplingParams RequestSampler::params() const {
  SamplingParams p;
  p.temperature = cfg_.temperature;
  p.top_k = cfg_.top_k;
  p.top_p = cfg_.top_p;
  p.min_p = cfg_.min_p;
  p.repetition_penalty = cfg_.repetition_penalty;
  p.presence_penalty = cfg_.presence_penalty;
  p.frequency_penalty = cfg_.frequency_penalty;
  return p;
}

void RequestSampler::append_bans(std::vector<int32_t>* out) const {
  const bool before_min = generated_ < cfg_.min_new_tokens;
  if ((cfg_.ignore_eos || before_min) && eos_id_ >= 0) out->push_back(eos_id_);
  if (before_min) out->insert(out->end(), cfg_.stop_token_ids.begin(), cfg_.stop_token_ids.end());
}

void RequestSampler::append_seen(std::vector<TokenCount>* out) const {
  if (cfg_.repetition_penalty == 1.0f) return;
  for (const auto& [t, n] : seen_) out->push_back(TokenCount{t, n});
}

void RequestSampler::append_generated(std::vector<TokenCount>* out) const {
  if (cfg_.presence_penalty == 0.0f && cfg_.frequency_penalty == 0.0f) return;
  for (const auto& [t, n] : generated_counts_) out->push_back(TokenCount{t, n});
}

void RequestSampler::accept(int32_t token) {
  has_drawn_ = false;
  ++generated_;
  ++seen_[token];
  ++generated_counts_[token];
}

TokenLogprob RequestSampler::sample(const float* logits, int vocab) {
  TokenLogprob out;
  out.token = choose(logits, vocab);
  if (wants_logprobs()) {
    const int32_t token = out.token;
    float max_l = *std::max_element(logits, logits + vocab);
    double sum = 0.0;
    for (int t = 0; t < vocab; ++t) sum += std::exp(static_cast<double>(logits[t] - max_l));
    const double log_z = max_l + std::log(sum);
    out.logprob = static_cast<float>(logits[token] - log_z);
    if (cfg_.top_logprobs > 0) {
      cand_.clear();
      for (int32_t t = 0; t < vocab; ++t) cand_.emplace_back(logits[t], t);
      const int k = std::min<int>(cfg_.top_logprobs, vocab);
      std::partial_sort(cand_.begin(), cand_.begin() + k, cand_.end(), better);
      for (int i = 0; i < k; ++i)
        out.top.emplace_back(cand_[i].second, static_cast<float>(cand_[i].first - log_z));
    }
  }
  accept(out.token);
  return out;
}

int32_t RequestSampler::choose(const float* logits, int vocab) {
  work_.assign(logits, logits + vocab);

  // 1. penalties
  if (cfg_.repetition_penalty != 1.0f) {
    for (const auto& [t, n] : seen_) {
      if (t < 0 || t >= vocab) continue;
      float& l = work_[t];
      l = l > 0 ? l / cfg_.repetition_penalty : l * cfg_.repetition_penalty;
    }
  }
  if (cfg_.presence_penalty != 0.0f || cfg_.frequency_penalty != 0.0f) {
    for (const auto& [t, n] : generated_counts_) {
      if (t < 0 || t >= vocab) continue;
      work_[t] -= cfg_.presence_penalty + cfg_.frequency_penalty * static_cast<float>(n);
    }
  }
  // 2. bans
  bans_.clear();
  append_bans(&bans_);
  for (int32_t t : bans_)
    if (t >= 0 && t < vocab) work_[t] = kBanned;

  // 3-7. choose
  int32_t token = 0;
  if (greedy()) {
    token = static_cast<int32_t>(std::max_element(work_.begin(), work_.end()) - work_.begin());
  } else {
    const float inv_t = 1.0f / cfg_.temperature;
    cand_.clear();
    cand_.reserve(vocab);
    for (int32_t t = 0; t < vocab; ++t) {
      if (work_[t] != kBanned) cand_.emplace_back(work_[t] * inv_t, t);
    }
    if (cand_.empty()) cand_.emplace_back(0.0f, 0);
    const bool need_sorted = cfg_.top_k > 0 || cfg_.top_p < 1.0f;
    if (cfg_.top_k > 0 && cfg_.top_k < static_cast<int>(cand_.size())) {
      std::partial_sort(cand_.begin(), cand_.begin() + cfg_.top_k, cand_.end(), better);
      cand_.resize(cfg_.top_k);
    } else if (need_sorted) {
      std::sort(cand_.begin(), cand_.end(), better);
    }
    float max_l = cand_[0].first;
    for (const auto& c : cand_) max_l = std::max(max_l, c.first);
    double sum = 0.0;
    for (auto& c : cand_) {
      c.first = std::exp(c.first - max_l);
      sum += c.first;
    }
    double p_max = 0.0;
    for (auto& c : cand_) {
      c.first = static_cast<float>(c.first / sum);
      p_max = std::max<double>(p_max, c.first);
    }
    size_t keep = cand_.size();
    if (cfg_.top_p < 1.0f) {
      double cum = 0.0;
      for (size_t i = 0; i < cand_.size(); ++i) {
        cum += cand_[i].first;
        if (cum >= cfg_.top_p) {
          keep = i + 1;
          break;
        }
      }
    }
    double kept_sum = 0.0;
    size_t n = 0;
    for (size_t i = 0; i < keep; ++i) {
      if (cfg_.min_p > 0.0f && cand_[i].first < cfg_.min_p * p_max) continue;
      cand_[n++] = cand_[i];
      kept_sum += cand_[n - 1].first;
    }
    cand_.resize(n);  // never empty: the most likely token passes both filters
    const double u = uniform() * kept_sum;
    double cum = 0.0;
    token = cand_.back().second;
    for (const auto& c : cand_) {
      cum += c.first;
      if (u < cum) {
        token = c.second;
        break;
      }
    }
  }
  return token;
}

void RequestSampler::add_device_row(SamplingBatch* batch) {
  batch->on_device.push_back(1);
  batch->params.push_back(params());
  batch->uniform.push_back(draw_uniform());
  append_bans(&batch->bans);
  batch->ban_offsets.push_back(static_cast<int32_t>(batch->bans.size()));
  append_seen(&batch->seen);
  batch->seen_offsets.push_back(static_cast<int32_t>(batch->seen.size()));
  append_generated(&batch->generated);
  batch->generated_offsets.push_back(static_cast<int32_t>(batch->generated.size()));
}

}  // namespace lmd
