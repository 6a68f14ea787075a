// CPU implementation of Backend: kernels from kernels/cpu (scalar / AVX2 / AVX-512 picked
// at run time), one ThreadPool for the whole backend, scratch buffers that grow to the
// largest step seen and are then reused (no allocation in a steady-state step).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/cpu_weight.h"
#include "common/thread_pool.h"
#include "kernels/cpu/cpu_kernels.h"

namespace lmd::cpu {

class CpuBackend : public Backend {
 public:
  explicit CpuBackend(const CpuBackendOptions& opt);
  ~CpuBackend() override = default;

  const char* name() const override { return "cpu"; }
  void* alloc(size_t bytes) override;
  void free(void* ptr) override;
  void copy_to_device(void* dst, const void* src, size_t bytes) override;
  void copy_to_host(void* dst, const void* src, size_t bytes) override;
  void synchronize() override {}
  bool supports_op(BackendOp op, DType weight_dtype, int group_size) const override;
  std::unique_ptr<BackendWeight> upload_weight(const WeightTensor& w) override;

  void begin_step(const StepPlan& plan, const KvLayout& layout, uint8_t* kv_pool,
                  const AttentionParams& params) override;
  void embedding(const BackendWeight& table, const int32_t* tokens, int n, float* out) override;
  void rms_norm(const float* x, const float* w, int n, int dim, float eps, float* out) override;
  void linear(const float* x, int n, const LinearOut* outs, int n_outs) override;
  void rope_kv_write(int layer, float* q, float* k, const float* v, int n) override;
  void set_kv_static_params(int layer, const float* scale_zp4) override;
  void attention(int layer, const float* q, float* out, int n) override;
  void silu_mul(const float* g, const float* u, int n, int dim, float* out) override;
  void add(float* x, const float* y, size_t count) override;
  void gather_rows(const float* x, const int32_t* rows, int n_rows, int dim, float* out) override;

  int threads() const { return pool_.size(); }

 private:
  std::mutex mapped_mutex_;
  std::unordered_map<void*, size_t> mapped_;  // mmap-ed buffers and their sizes
  // Runs fn(share, nt) for each of nt = threads() shares on the pool (shares are claimed
  // dynamically, so a descheduled worker never stalls the caller; `share` is also the index
  // of the scratch buffer to use), or fn(0, 1) inline when the work is too small to pay
  // for waking the pool.
  template <typename F>
  void parallel(int64_t work, F&& fn) {
    if (work < kInlineWork || pool_.size() == 1) {
      fn(0, 1);
    } else {
      const int nt = pool_.size();
      pool_.for_each(nt, [&](int64_t c, int) { fn(static_cast<int>(c), nt); });
    }
  }
  // fn(chunk, tid) for chunk < n_chunks on the pool (claimed dynamically), or inline.
  template <typename F>
  void parallel_chunks(int64_t work, int64_t n_chunks, F&& fn) {
    if (work < kInlineWork || pool_.size() == 1 || n_chunks <= 1) {
      for (int64_t c = 0; c < n_chunks; ++c) fn(c, 0);
    } else {
      pool_.for_each(n_chunks, fn);
    }
  }
  static constexpr int64_t kInlineWork = 8192;
  void grow_thread_scratch(size_t floats);

  struct StepSeq {
    int32_t token_offset, n_tokens, history_len;
    size_t block_begin;  // into blocks_
  };
  struct AttnItem {
    int32_t seq, kv_head, tok_begin, tok_end;  // tokens are step-global indices
  };

  ThreadPool pool_;
  bool exact_ = false;

  // --- llama.cpp numerics mode (CpuBackendOptions::llamacpp_numerics; llamacpp_numerics.h):
  // rms_norm, linear (int4 / int8 weights), RoPE tables and rotation, attention and silu_mul
  // take the scalar emulation of llama.cpp's float ops instead of the kernels. ---
  bool llamacpp_ = false;
  std::vector<int8_t> lc_q_;               // [n][cols] Q8_1 / Q8_0 codes of the linear input
  std::vector<uint16_t> lc_d_, lc_s_;      // [n][cols/32] fp16 d and s
  std::vector<std::vector<uint16_t>> lc_kv_;  // per thread: gathered fp16 K and V rows
  void linear_llamacpp(const float* x, int n, const LinearOut* outs, int n_outs);
  void attention_llamacpp(int layer, const float* q, float* out, int n);

  // per-thread fp32 scratch (weight rows, KV tiles, attention scores)
  std::vector<std::vector<float>> thread_scratch_;
  // quantised activations of the current linear input
  std::vector<int8_t> act_q_;
  std::vector<float> act_d_, act_s_;
  std::vector<float> lin_tmp_;

  // Static int8 KV (set_kv_static_params): [layer][k_scale, k_zp, v_scale, v_zp]; a layer
  // whose k_scale is 0 has none and quantises each row online.
  std::vector<float> kv_static_;

  // --- step state (begin_step) ---
  KvLayout layout_;
  uint8_t* kv_pool_ = nullptr;
  AttentionParams params_;
  std::vector<StepSeq> seqs_;
  std::vector<int32_t> blocks_;
  std::vector<int32_t> tok_seq_, tok_pos_;
  std::vector<float> rope_cos_, rope_sin_;  // [n][rot_dim/2]
  std::vector<float> logn_;                 // [n]
  std::vector<AttnItem> attn_items_;
  std::atomic<int64_t> next_item_{0};
};

}  // namespace lmd::cpu
