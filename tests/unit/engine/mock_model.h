// Test doubles for the engine: a deterministic Model whose next-token logits are a hash
// of the whole token history *as read back from its KV blocks* (so a wrong block table or
// a stale block changes the output, and a position mismatch throws), and a TextCodec with
// a fixed piece per token id.
#pragma once

#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "engine/text_codec.h"
#include "model/model.h"

namespace lmd::test {

constexpr int kMockVocab = 64;
constexpr int32_t kMockEos = 1;

// The oracle: logits after `history` (the whole sequence so far).
inline void mock_logits(const std::vector<int32_t>& history, float* out) {
  uint64_t h = 0x12345678ULL;
  for (int32_t t : history) h = (h ^ static_cast<uint32_t>(t)) * 0x100000001b3ULL + 0x9e3779b97f4a7c15ULL;
  for (int v = 0; v < kMockVocab; ++v) {
    uint64_t x = h + 0x9e3779b97f4a7c15ULL * (v + 1);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    x ^= x >> 31;
    out[v] = static_cast<float>(static_cast<double>(x >> 11) * 0x1.0p-53 * 8.0 - 4.0);
  }
  out[kMockEos] -= 2.5f;  // answers of a few dozen tokens, not one
}

// Greedy continuation the engine must reproduce: stops at eos (not output) or max_new.
inline std::vector<int32_t> mock_greedy(std::vector<int32_t> history, int max_new, bool* stopped = nullptr) {
  std::vector<int32_t> out;
  float logits[kMockVocab];
  if (stopped) *stopped = false;
  while (static_cast<int>(out.size()) < max_new) {
    mock_logits(history, logits);
    int best = 0;
    for (int v = 1; v < kMockVocab; ++v)
      if (logits[v] > logits[best]) best = v;
    history.push_back(best);
    if (best == kMockEos) {
      if (stopped) *stopped = true;
      break;
    }
    out.push_back(best);
  }
  return out;
}

class MockModel : public Model {
 public:
  MockModel(int num_blocks, int block_len, int session_len = 4096, int max_batch_size = 64) {
    cfg_.model_name = "mock";
    cfg_.vocab_size = kMockVocab;
    cfg_.end_id = kMockEos;
    cfg_.session_len = session_len;
    cfg_.max_batch_size = max_batch_size;
    layout_.num_layer = 1;
    layout_.kv_head_num = 1;
    layout_.head_dim = 2;  // (token, position)
    layout_.block_len = block_len;
    layout_.kind = KvKind::kF32;
    pool_.assign(static_cast<size_t>(num_blocks) * layout_.block_bytes(), 0xAB);
    num_blocks_ = num_blocks;
  }
  // Next token = script[position of the next token % script.size()], whatever the history.
  void set_script(std::vector<int32_t> script) { script_ = std::move(script); }

  const ModelConfig& config() const override { return cfg_; }
  const KvLayout& kv_layout() const override { return layout_; }
  uint8_t* kv_block(int32_t id) override {
    LMD_CHECK(id >= 0 && id < num_blocks_) << "mock: block id " << id;
    return pool_.data() + static_cast<size_t>(id) * layout_.block_bytes();
  }
  int32_t kv_num_blocks() const override { return num_blocks_; }

  // Per step: (rows of one token whose sequence has history = decode rows, tokens of the
  // sequences with more than one token = prefill tokens). Read after the engine is idle.
  struct StepShape {
    int decode_rows = 0, prefill_tokens = 0;
  };
  const std::vector<StepShape>& step_shapes() const { return shapes_; }

  void forward(const StepPlan& plan, float* logits) override {
    StepShape shape;
    for (const StepSequence& s : plan.seqs) {
      if (s.n_tokens == 1 && s.history_len > 0) ++shape.decode_rows;
      if (s.n_tokens > 1) shape.prefill_tokens += s.n_tokens;
    }
    shapes_.push_back(shape);
    int row = 0;
    for (const StepSequence& s : plan.seqs) {
      for (int j = 0; j < s.n_tokens; ++j) {
        const int p = s.history_len + j;
        float kv[2] = {static_cast<float>(plan.tokens[s.token_offset + j]), static_cast<float>(p)};
        std::memcpy(slot(s, p), kv, sizeof(kv));
      }
      if (!s.need_logits) continue;
      std::vector<int32_t> history;
      for (int p = 0; p < s.history_len + s.n_tokens; ++p) {
        float kv[2];
        std::memcpy(kv, slot(s, p), sizeof(kv));
        LMD_CHECK(static_cast<int>(kv[1]) == p) << "mock: KV of position " << p << " holds position " << kv[1];
        history.push_back(static_cast<int32_t>(kv[0]));
      }
      float* out = logits + static_cast<size_t>(row++) * kMockVocab;
      if (script_.empty()) {
        mock_logits(history, out);
      } else {
        for (int v = 0; v < kMockVocab; ++v) out[v] = 0.0f;
        out[script_[history.size() % script_.size()]] = 10.0f;
      }
    }
    tokens_computed_ += static_cast<int64_t>(plan.tokens.size());
  }
  int64_t tokens_computed() const { return tokens_computed_; }

 private:
  uint8_t* slot(const StepSequence& s, int p) {
    LMD_CHECK(p / layout_.block_len < static_cast<int>(s.block_table.size()))
        << "mock: position " << p << " beyond the block table";
    return kv_block(s.block_table[p / layout_.block_len]) + layout_.row_offset(0, 0, 0, p % layout_.block_len);
  }

  ModelConfig cfg_;
  KvLayout layout_;
  std::vector<uint8_t> pool_;
  int num_blocks_ = 0;
  std::vector<int32_t> script_;
  int64_t tokens_computed_ = 0;
  std::vector<StepShape> shapes_;
};

// Token t renders as kPieces[t] (ids 0, 1 are special and render as nothing).
class MockCodec : public TextCodec {
 public:
  explicit MockCodec(std::vector<std::string> pieces = {}) : pieces_(std::move(pieces)) {
    if (pieces_.empty()) {
      for (int t = 0; t < kMockVocab; ++t)
        pieces_.push_back(t < 2 ? "" : std::string(1, static_cast<char>('a' + (t - 2) % 26)) + (t % 3 ? "" : " "));
    }
    pieces_.resize(kMockVocab);
  }
  std::vector<int32_t> encode(const std::string& text, bool) const override {
    std::vector<int32_t> ids;
    for (unsigned char c : text) ids.push_back(2 + c % (kMockVocab - 2));
    return ids;
  }
  std::string decode(const std::vector<int32_t>& ids) const override {
    std::string s;
    for (int32_t t : ids) s += pieces_.at(t);
    return s;
  }
  int32_t eos_id() const override { return kMockEos; }
  int32_t token_id(const std::string& piece) const override {
    for (size_t i = 2; i < pieces_.size(); ++i)
      if (pieces_[i] == piece) return static_cast<int32_t>(i);
    return -1;
  }

 private:
  std::vector<std::string> pieces_;
};

}  // namespace lmd::test
