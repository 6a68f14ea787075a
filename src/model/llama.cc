#include "model/llama.h"

#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/device_registry.h"
#include "comm/communicator.h"
#include "core/error.h"
#include "common/logging.h"
#include "core/weight_slices.h"

namespace lmd {
namespace {

// A device buffer of fp32 that grows to the largest step seen.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { reset(); }
  void bind(Backend* b) { backend_ = b; }
  float* reserve(size_t floats) {
    if (floats > capacity_) {
      reset();
      ptr_ = static_cast<float*>(backend_->alloc(floats * sizeof(float)));
      capacity_ = floats;
    }
    return ptr_;
  }
  float* get() const { return ptr_; }
  void reset() {
    if (ptr_) backend_->free(ptr_);
    ptr_ = nullptr;
    capacity_ = 0;
  }

 private:
  Backend* backend_ = nullptr;
  float* ptr_ = nullptr;
  size_t capacity_ = 0;
};

struct LayerOnDevice {
  float* attention_norm = nullptr;
  float* ffn_norm = nullptr;
  float* bq = nullptr;
  float* bk = nullptr;
  float* bv = nullptr;
  float* bo = nullptr;                 // InternLM v1's output-projection bias, or null
  float kv_static[4] = {0, 0, 0, 0};   // (k_scale, k_zp, v_scale, v_zp) when static int8 KV
  std::unique_ptr<BackendWeight> wq, wk, wv, wo, w1, w3, w2;
};

class LlamaModelImpl : public LlamaModel {
 public:
  // `consumed`: null, or &w when the caller hands its weights over (each host tensor is freed
  // once the backend holds its copy, so the peak holds one copy plus one layer, not two).
  LlamaModelImpl(const ModelWeights& w, const ModelRuntimeOptions& opt, ModelWeights* consumed = nullptr)
      : cfg_(w.config) {
    LMD_CHECK(cfg_.head_num > 0 && cfg_.kv_head_num > 0 && cfg_.head_num % cfg_.kv_head_num == 0)
        << "model config: head_num " << cfg_.head_num << " must be a multiple of kv_head_num " << cfg_.kv_head_num;
    LMD_CHECK(cfg_.num_layer == static_cast<int>(w.layers.size()))
        << "model weights: " << w.layers.size() << " layers, config num_layer " << cfg_.num_layer;
    LMD_CHECK(opt.block_len > 0) << "block_len " << opt.block_len;
    comm_ = opt.comm;
    tp_ = comm_ ? comm_->size() : 1;
    rank_ = comm_ ? comm_->rank() : 0;
    LMD_CHECK(cfg_.tensor_para_size == tp_)
        << "model weights are split for tensor_para_size " << cfg_.tensor_para_size << " but the model runs with "
        << tp_ << " rank(s)";
    LMD_CHECK(cfg_.head_num % tp_ == 0 && cfg_.kv_head_num % tp_ == 0 && cfg_.inter_size % tp_ == 0)
        << "--tp " << tp_ << ": head_num " << cfg_.head_num << ", kv_head_num " << cfg_.kv_head_num
        << " and inter_size " << cfg_.inter_size << " must all be divisible by the tensor parallel size";
    // This rank's slice of the heads and of the MLP.
    qd_ = cfg_.q_dim() / tp_;
    kd_ = cfg_.kv_dim() / tp_;
    inter_ = cfg_.inter_size / tp_;
    vocab0_ = static_cast<int64_t>(cfg_.vocab_size) * rank_ / tp_;
    vocab_n_ = static_cast<int64_t>(cfg_.vocab_size) * (rank_ + 1) / tp_ - vocab0_;
    if (opt.make_backend) {
      backend_ = opt.make_backend();
    } else {
      BackendOptions bo;
      bo.device = opt.device == "cpu" ? 0 : rank_;
      bo.threads = opt.threads;
      bo.exact = opt.exact;
      bo.llamacpp_numerics = opt.llamacpp_numerics;
      backend_ = device_kind(opt.device).create(bo);
    }
    LMD_CHECK(backend_ != nullptr) << "make_backend returned no backend";
    for (DeviceBuffer* b : buffers()) b->bind(backend_.get());
    // A throw below skips the destructor: free what was already uploaded, then rethrow.
    try {
      upload(w, opt, consumed);
    } catch (...) {
      release();
      throw;
    }
  }

  void upload(const ModelWeights& w, const ModelRuntimeOptions& opt, ModelWeights* consumed) {
    // One rank with tied embeddings: the table is also the lm head (output_ stays null).
    const bool tied_head = tp_ == 1 && cfg_.tie_word_embeddings && w.output.empty();
    tok_embeddings_ = upload_matrix(w.tok_embeddings, "tok_embeddings", cfg_.vocab_size, cfg_.hidden_units,
                                    tied_head ? std::vector<BackendOp>{BackendOp::kEmbedding, BackendOp::kLinear}
                                              : std::vector<BackendOp>{BackendOp::kEmbedding});
    norm_ = upload_vector(w.norm, "norm", cfg_.hidden_units);
    if (tp_ > 1) {
      // Tensor parallel: the lm head computes this rank's vocab rows only (tied: a slice of
      // the embedding table, which every rank keeps whole for the lookup).
      const WeightTensor& full = w.output.empty() ? w.tok_embeddings : w.output;
      LMD_CHECK(full.rows() == cfg_.vocab_size) << "weight output: expected " << cfg_.vocab_size << " rows, got "
                                                << full.rows();
      output_ = upload_matrix(slice_rows(full, vocab0_, vocab_n_), "output (rank slice)", vocab_n_,
                              cfg_.hidden_units);
    } else if (!cfg_.tie_word_embeddings || !w.output.empty()) {
      output_ = upload_matrix(w.output, "output", cfg_.vocab_size, cfg_.hidden_units);
    }
    if (consumed) consumed->tok_embeddings = WeightTensor{}, consumed->output = WeightTensor{};
    const int h = cfg_.hidden_units, qd = qd_, kd = kd_, inter = inter_;
    int static_layers = 0;
    for (int l = 0; l < cfg_.num_layer; ++l) {
      const LayerWeights& s = w.layers[l];
      const std::string p = "layers." + std::to_string(l) + ".";
      LayerOnDevice d;
      d.attention_norm = upload_vector(s.attention_norm, p + "attention_norm", h);
      d.ffn_norm = upload_vector(s.ffn_norm, p + "ffn_norm", h);
      d.wq = upload_matrix(s.wq, p + "wq", qd, h);
      d.wk = upload_matrix(s.wk, p + "wk", kd, h);
      d.wv = upload_matrix(s.wv, p + "wv", kd, h);
      d.wo = upload_matrix(s.wo, p + "wo", h, qd);
      d.w1 = upload_matrix(s.w1, p + "w1", inter, h);
      d.w3 = upload_matrix(s.w3, p + "w3", inter, h);
      d.w2 = upload_matrix(s.w2, p + "w2", h, inter);
      if (cfg_.attn_bias) {
        d.bq = upload_vector(s.bq, p + "bq", qd);
        d.bk = upload_vector(s.bk, p + "bk", kd);
        d.bv = upload_vector(s.bv, p + "bv", kd);
      }
      if (!s.bo.empty()) d.bo = upload_vector(s.bo, p + "bo", h);
      if (opt.kv_kind == KvKind::kInt8 && !s.past_kv_scale.empty()) {
        const std::vector<float> ps = s.past_kv_scale.to_f32();
        if (ps.size() == 4) std::copy(ps.begin(), ps.end(), d.kv_static);
        else if (ps.size() == 2) d.kv_static[0] = ps[0], d.kv_static[2] = ps[1];  // symmetric: zp = 0
        else throw Error(p + "past_kv_scale: expected 4 or 2 values, got " + std::to_string(ps.size()));
        LMD_CHECK(d.kv_static[0] > 0 && d.kv_static[2] > 0)
            << p << "past_kv_scale: scales must be > 0, got k " << d.kv_static[0] << ", v " << d.kv_static[2];
        ++static_layers;
      }
      layers_.push_back(std::move(d));
      if (consumed) consumed->layers[l] = LayerWeights{};
    }

    LMD_CHECK(static_layers == 0 || static_layers == cfg_.num_layer)
        << "past_kv_scale present on " << static_layers << " of " << cfg_.num_layer
        << " layers; run `lmdeploy lite kv_qparams` again for this workspace";
    kv_static_ = static_layers > 0;
    if (kv_static_) LMD_LOG_INFO("int8 KV cache with static kv_qparams (past_kv_scale) on {} layers", static_layers);
    // The backend quantises static KV in its rope_kv_write (its pool may be device memory).
    if (kv_static_)
      for (int l = 0; l < cfg_.num_layer; ++l) backend_->set_kv_static_params(l, layers_[l].kv_static);
    layout_.num_layer = cfg_.num_layer;
    layout_.kv_head_num = cfg_.kv_head_num / tp_;
    layout_.head_dim = cfg_.size_per_head;
    layout_.block_len = opt.block_len;
    layout_.kind = opt.kv_kind;
    kv_num_blocks_ = opt.kv_num_blocks;
    if (kv_num_blocks_ > 0)
      kv_pool_ = static_cast<uint8_t*>(backend_->alloc(layout_.block_bytes() * static_cast<size_t>(kv_num_blocks_)));

    attn_.head_num = cfg_.head_num / tp_;
    attn_.kv_head_num = cfg_.kv_head_num / tp_;
    attn_.head_dim = cfg_.size_per_head;
    attn_.rot_dim = cfg_.rotary_embedding > 0 ? cfg_.rotary_embedding : cfg_.size_per_head;
    attn_.rope_theta = cfg_.rope_theta;
    attn_.rope_pairing = cfg_.rope_pairing;
    attn_.rope_scaling_factor = cfg_.rope_scaling_factor;
    attn_.max_position_embeddings = cfg_.max_position_embeddings;
    attn_.use_logn_attn = cfg_.use_logn_attn != 0;
  }

  ~LlamaModelImpl() override { release(); }

  void release() {
    for (LayerOnDevice& d : layers_) {
      for (std::unique_ptr<BackendWeight>* m : {&d.wq, &d.wk, &d.wv, &d.wo, &d.w1, &d.w3, &d.w2}) m->reset();
    }
    for (DeviceBuffer* b : buffers()) b->reset();
    for (float* p : vectors_) backend_->free(p);
    vectors_.clear();
    if (kv_pool_) backend_->free(kv_pool_);
    kv_pool_ = nullptr;
  }

  const ModelConfig& config() const override { return cfg_; }
  const KvLayout& kv_layout() const override { return layout_; }
  uint8_t* kv_block(int32_t id) override {
    LMD_CHECK(id >= 0 && id < kv_num_blocks_) << "kv_block: id " << id << " outside the pool of " << kv_num_blocks_;
    return kv_pool_ + layout_.block_bytes() * static_cast<size_t>(id);
  }
  int32_t kv_num_blocks() const override { return kv_num_blocks_; }
  size_t kv_pool_bytes() const override { return layout_.block_bytes() * static_cast<size_t>(kv_num_blocks_); }
  void set_observer(ForwardObserver* observer) override {
    // A rank sees only its heads' activations: calibration needs the whole model.
    LMD_CHECK_KIND(observer == nullptr || tp_ == 1, kUnsupported)
        << "forward observers (lite calibrate / auto_awq) need tp 1, the model runs with tp " << tp_;
    observer_ = observer;
  }
  bool kv_static() const override { return kv_static_; }

  void forward(const StepPlan& plan, float* logits) override { step(plan, logits, nullptr); }

  // Device sampling: one rank only (with tp the logits are split by vocab over the ranks).
  bool enable_device_sampling(int max_rows) override {
    if (tp_ > 1 || !backend_->supports_sampling()) return false;
    LMD_CHECK(max_rows > 0) << "enable_device_sampling: max rows " << max_rows;
    backend_->reserve_sampling(max_rows, cfg_.vocab_size);
    logits_dev_.reserve(static_cast<size_t>(max_rows) * cfg_.vocab_size);
    sample_max_rows_ = max_rows;
    return true;
  }
  void forward_sample(const StepPlan& plan, float* logits, SamplingBatch* sampling) override {
    LMD_CHECK(sampling != nullptr) << "forward_sample: no sampling batch";
    LMD_CHECK_KIND(sample_max_rows_ > 0, kUnsupported)
        << "forward_sample: device sampling is not enabled (enable_device_sampling)";
    step(plan, logits, sampling);
  }

 private:
  std::vector<DeviceBuffer*> buffers() {
    return {&x_, &h_, &q_, &k_, &v_, &attn_out_, &gate_, &up_, &last_, &logits_part_, &logits_dev_};
  }
  // `ops`: the ops the matrix is used by (each asked of the backend before the upload).
  std::unique_ptr<BackendWeight> upload_matrix(const WeightTensor& t, const std::string& name, int64_t rows,
                                               int64_t cols, const std::vector<BackendOp>& ops = {BackendOp::kLinear}) {
    LMD_CHECK(t.shape.size() == 2 && t.rows() == rows && t.cols() == cols)
        << "weight " << name << ": expected [" << rows << ", " << cols << "], got " << shape_str(t);
    for (BackendOp op : ops)
      LMD_CHECK_KIND(backend_->supports_op(op, t.dtype, t.group_size), kUnsupported)
          << "weight " << name << ": " << dtype_name(t.dtype) << " with group size " << t.group_size
          << " is not supported by the " << backend_->name() << " backend's " << backend_op_name(op);
    return backend_->upload_weight(t);
  }
  float* upload_vector(const WeightTensor& t, const std::string& name, int64_t n) {
    LMD_CHECK(t.numel() == n) << "weight " << name << ": expected " << n << " values, got " << shape_str(t);
    const std::vector<float> v = t.to_f32();
    float* d = static_cast<float*>(backend_->alloc(sizeof(float) * n));
    backend_->copy_to_device(d, v.data(), sizeof(float) * n);
    vectors_.push_back(d);
    return d;
  }
  static std::string shape_str(const WeightTensor& t) {
    std::string s = "[";
    for (size_t i = 0; i < t.shape.size(); ++i) s += (i ? ", " : "") + std::to_string(t.shape[i]);
    return s + "]";
  }

  ModelConfig cfg_;
  // Tensor parallelism: rank_ of tp_ (1 and 0 without a communicator); this rank's q / kv /
  // inter widths and its vocab rows [vocab0_, vocab0_ + vocab_n_) of the lm head.
  Communicator* comm_ = nullptr;
  int tp_ = 1, rank_ = 0;
  int qd_ = 0, kd_ = 0, inter_ = 0;
  int64_t vocab0_ = 0, vocab_n_ = 0;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<BackendWeight> tok_embeddings_, output_;
  float* norm_ = nullptr;
  std::vector<LayerOnDevice> layers_;
  std::vector<float*> vectors_;
  // x [count] this backend's device memory (the communicator is made for it: tp_model.h):
  // finish this rank's queued work, then sum over ranks in place.
  void all_reduce(float* x, size_t count) {
    backend_->synchronize();
    comm_->all_reduce_sum(x, count);
  }

  KvLayout layout_;
  bool kv_static_ = false;
  ForwardObserver* observer_ = nullptr;
  int32_t kv_num_blocks_ = 0;
  uint8_t* kv_pool_ = nullptr;
  AttentionParams attn_;
  // activations, [tokens, dim]
  DeviceBuffer x_, h_, q_, k_, v_, attn_out_, gate_, up_, last_;
  DeviceBuffer logits_part_;  // tp: [logit rows, vocab_n_], this rank's vocab columns
  DeviceBuffer logits_dev_;   // device sampling: [sample_max_rows_, vocab], allocated once
  int sample_max_rows_ = 0;   // > 0 once enable_device_sampling succeeded
  std::vector<int32_t> logit_rows_;

  // forward() (sampling null) and forward_sample(): see model.h.
  void step(const StepPlan& plan, float* logits, SamplingBatch* sampling);
};

void LlamaModelImpl::step(const StepPlan& plan, float* logits, SamplingBatch* sampling) {
  const int n = static_cast<int>(plan.tokens.size());
  if (n == 0) return;
  LMD_CHECK(kv_pool_ != nullptr) << "forward: the model was created without a KV pool (kv_num_blocks = 0)";
  for (const auto& s : plan.seqs)
    for (int32_t b : s.block_table)
      LMD_CHECK(b >= 0 && b < kv_num_blocks_) << "step plan: sequence " << s.seq_id << " uses KV block " << b
                                              << " outside the pool of " << kv_num_blocks_;
  const int hd = cfg_.hidden_units, qd = qd_, kd = kd_, inter = inter_;
  const float eps = cfg_.norm_eps;
  Backend& be = *backend_;
  float* x = x_.reserve(static_cast<size_t>(n) * hd);        // residual stream
  float* h = h_.reserve(static_cast<size_t>(n) * hd);        // normed input of a block
  float* q = q_.reserve(static_cast<size_t>(n) * qd);
  float* k = k_.reserve(static_cast<size_t>(n) * kd);
  float* v = v_.reserve(static_cast<size_t>(n) * kd);
  float* ao = attn_out_.reserve(static_cast<size_t>(n) * qd);
  float* g = gate_.reserve(static_cast<size_t>(n) * inter);
  float* u = up_.reserve(static_cast<size_t>(n) * inter);

  auto observe = [&](int layer, ForwardObserver::Site site, const float* a, int rows, int dim) {
    if (!observer_) return;
    be.synchronize();
    observer_->on_linear_input(layer, site, a, rows, dim);
  };
  be.begin_step(plan, layout_, kv_pool_, attn_);
  be.embedding(*tok_embeddings_, plan.tokens.data(), n, x);
  for (int l = 0; l < cfg_.num_layer; ++l) {
    const LayerOnDevice& L = layers_[l];
    be.rms_norm(x, L.attention_norm, n, hd, eps, h);
    const LinearOut qkv[3] = {{L.wq.get(), L.bq, q, 0, false}, {L.wk.get(), L.bk, k, 0, false},
                              {L.wv.get(), L.bv, v, 0, false}};
    observe(l, ForwardObserver::Site::kQkvIn, h, n, hd);
    be.linear(h, n, qkv, 3);
    be.rope_kv_write(l, q, k, v, n);
    if (observer_) {
      be.synchronize();
      observer_->on_kv(l, k, v, n, kd);
    }
    be.attention(l, q, ao, n);
    observe(l, ForwardObserver::Site::kOIn, ao, n, qd);
    // x += wo · attention (+ bo). Tensor parallel: rank 0 adds its partial product (and bo,
    // which only rank 0 holds) to the residual, the others overwrite x with theirs, and the
    // all-reduce sums them in rank order: x + p0 + bo + p1 + ... on every rank.
    const LinearOut o{L.wo.get(), L.bo, x, 0, rank_ == 0};
    be.linear(ao, n, &o, 1);
    if (tp_ > 1) all_reduce(x, static_cast<size_t>(n) * hd);
    be.rms_norm(x, L.ffn_norm, n, hd, eps, h);
    observe(l, ForwardObserver::Site::kGateUpIn, h, n, hd);
    const LinearOut gu[2] = {{L.w1.get(), nullptr, g, 0, false}, {L.w3.get(), nullptr, u, 0, false}};
    be.linear(h, n, gu, 2);
    be.silu_mul(g, u, n, inter, g);
    observe(l, ForwardObserver::Site::kDownIn, g, n, inter);
    const LinearOut down{L.w2.get(), nullptr, x, 0, rank_ == 0};  // x += w2 · ffn (tp: as wo)
    be.linear(g, n, &down, 1);
    if (tp_ > 1) all_reduce(x, static_cast<size_t>(n) * hd);
  }

  logit_rows_.clear();
  for (const auto& s : plan.seqs)
    if (s.need_logits && s.n_tokens > 0) logit_rows_.push_back(s.token_offset + s.n_tokens - 1);
  const int nl = static_cast<int>(logit_rows_.size());
  if (sampling) {
    LMD_CHECK(sampling->rows() == nl && nl <= sample_max_rows_)
        << "forward_sample: " << sampling->rows() << " sampling rows for " << nl << " logits rows (at most "
        << sample_max_rows_ << ")";
  }
  if (nl == 0) return;
  float* last = last_.reserve(static_cast<size_t>(nl) * hd);
  be.gather_rows(x, logit_rows_.data(), nl, hd, h);
  be.rms_norm(h, norm_, nl, hd, eps, last);
  const BackendWeight* out_w = output_ ? output_.get() : tok_embeddings_.get();
  if (sampling) {
    // Logits stay on the device [nl, vocab]; only the rows the host samples come back (the
    // same lm head kernel on the same rows as forward()'s staged copy: the same values).
    const int64_t vocab = cfg_.vocab_size;
    float* dl = logits_dev_.get();
    const LinearOut lo{out_w, nullptr, dl, 0, false};
    be.linear(last, nl, &lo, 1);
    be.sample(dl, cfg_.vocab_size, sampling);
    for (int i = 0; i < nl; ++i)
      if (sampling->tokens[i] < 0)
        be.copy_to_host(logits + i * vocab, dl + i * vocab, sizeof(float) * static_cast<size_t>(vocab));
    return;
  }
  if (tp_ == 1) {
    // logits [nl, vocab] is host memory: the backend stages a host output (CPU: device == host).
    const LinearOut lo{out_w, nullptr, logits, 0, false};
    be.linear(last, nl, &lo, 1);
    be.synchronize();
    return;
  }
  // Tensor parallel: this rank's vocab columns [vocab0_, vocab0_ + vocab_n_) into device
  // scratch [nl, vocab_n_], then row by row into its column range of the shared host rows
  // (the ranks' ranges are disjoint; a strided host output would be staged whole and could
  // overwrite the other ranks' columns).
  float* part = logits_part_.reserve(static_cast<size_t>(nl) * vocab_n_);
  const LinearOut lo{out_w, nullptr, part, 0, false};
  be.linear(last, nl, &lo, 1);
  for (int i = 0; i < nl; ++i)
    be.copy_to_host(logits + static_cast<size_t>(i) * cfg_.vocab_size + vocab0_,
                    part + static_cast<size_t>(i) * vocab_n_, sizeof(float) * vocab_n_);
  be.synchronize();
}

}  // namespace

std::unique_ptr<LlamaModel> create_llama_model(const ModelWeights& w, const ModelRuntimeOptions& opt) {
  return std::make_unique<LlamaModelImpl>(w, opt);
}

std::unique_ptr<LlamaModel> create_llama_model(ModelWeights&& w, const ModelRuntimeOptions& opt) {
  ModelWeights owned = std::move(w);
  return std::make_unique<LlamaModelImpl>(owned, opt, &owned);
}

}  // namespace lmd
