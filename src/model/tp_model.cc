#include "model/tp_model.h"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>

#include "backend/backend.h"
#include "backend/device_registry.h"
#include "core/error.h"
#include "common/logging.h"

namespace lmd {
namespace {

class TpModel : public LlamaModel {
 public:
  TpModel(const std::vector<ModelWeights>& ranks, const ModelRuntimeOptions& opt)
      : n_(static_cast<int>(ranks.size())) {
    LMD_CHECK(n_ >= 2) << "tensor-parallel model: " << n_ << " rank(s) given, need at least 2";
    LMD_CHECK(opt.comm == nullptr) << "tensor-parallel model: ModelRuntimeOptions::comm must be null";
    if (opt.make_comms) {
      comms_ = opt.make_comms(n_);
    } else {
      std::vector<int> devices(n_);
      for (int r = 0; r < n_; ++r) devices[r] = r;
      comms_ = device_kind(opt.device).communicators(devices);
    }
    LMD_CHECK(static_cast<int>(comms_.size()) == n_)
        << "tensor-parallel model: the communicator factory made " << comms_.size() << " communicators for " << n_
        << " ranks";
    for (int r = 0; r < n_; ++r)
      LMD_CHECK(comms_[r] && comms_[r]->rank() == r && comms_[r]->size() == n_)
          << "tensor-parallel model: communicator " << r << " is not rank " << r << " of " << n_;
    const int threads = opt.threads > 0 ? opt.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    for (int r = 0; r < n_; ++r) {
      LMD_CHECK(ranks[r].config.tensor_para_size == n_)
          << "tensor-parallel model: rank " << r << "'s weights are split for tensor_para_size "
          << ranks[r].config.tensor_para_size << ", not " << n_;
      ModelRuntimeOptions ro = opt;
      ro.threads = std::max(1, threads / n_);
      ro.comm = comms_[r].get();
      if (opt.make_rank_backend) ro.make_backend = [&opt, r] { return opt.make_rank_backend(r); };
      ranks_.push_back(create_llama_model(ranks[r], ro));
    }
    cfg_ = ranks_[0]->config();
    layout_ = ranks_[0]->kv_layout();
    layout_.kv_head_num *= n_;  // a block's bytes summed over ranks (what the engine reports)
    errors_.resize(n_);
    for (int r = 1; r < n_; ++r) workers_.emplace_back([this, r] { worker(r); });
    LMD_LOG_INFO("tensor parallel: {} ranks, {} thread(s) each, {} of {} KV heads per rank", n_,
                 std::max(1, threads / n_), cfg_.kv_head_num / n_, cfg_.kv_head_num);
  }

  ~TpModel() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    start_cv_.notify_all();
    for (auto& t : workers_) t.join();
  }

  const ModelConfig& config() const override { return cfg_; }
  const KvLayout& kv_layout() const override { return layout_; }
  uint8_t* kv_block(int32_t id) override {
    throw Error("kv_block(" + std::to_string(id) + "): a tensor-parallel model's KV block is split across " +
                    std::to_string(n_) + " ranks (each holds its KV heads' part)",
                Error::Kind::kUnsupported);
  }
  int32_t kv_num_blocks() const override { return ranks_[0]->kv_num_blocks(); }
  size_t kv_pool_bytes() const override {
    size_t s = 0;
    for (const auto& m : ranks_) s += m->kv_pool_bytes();
    return s;
  }
  void set_observer(ForwardObserver* observer) override {
    for (auto& m : ranks_) m->set_observer(observer);  // each rank refuses a non-null observer
  }
  bool kv_static() const override { return ranks_[0]->kv_static(); }

  void forward(const StepPlan& plan, float* logits) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      plan_ = &plan;
      logits_ = logits;
      pending_ = n_ - 1;
      ++job_;
    }
    start_cv_.notify_all();
    run_rank(0);
    {
      std::unique_lock<std::mutex> lock(mu_);
      done_cv_.wait(lock, [&] { return pending_ == 0; });
      plan_ = nullptr;
      logits_ = nullptr;
    }
    std::exception_ptr first;
    for (auto& e : errors_) {
      if (e && !first) first = e;
      e = nullptr;
    }
    if (first) {
      for (auto& c : comms_) c->reset();  // every rank has left its collectives
      std::rethrow_exception(first);
    }
  }

 private:
  void run_rank(int r) {
    try {
      ranks_[r]->forward(*plan_, logits_);
    } catch (...) {
      errors_[r] = std::current_exception();
      for (auto& c : comms_) c->abort();  // wakes the ranks waiting for this one
    }
  }

  void worker(int r) {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        start_cv_.wait(lock, [&] { return stop_ || job_ != seen; });
        if (stop_) return;
        seen = job_;
      }
      run_rank(r);
      {
        std::lock_guard<std::mutex> lock(mu_);
        --pending_;
      }
      done_cv_.notify_one();
    }
  }

  const int n_;
  std::vector<std::unique_ptr<Communicator>> comms_;  // [n_]: outlive the rank models using them
  std::vector<std::unique_ptr<LlamaModel>> ranks_;
  ModelConfig cfg_;
  KvLayout layout_;

  // The current step, handed to the workers under mu_.
  std::mutex mu_;
  std::condition_variable start_cv_, done_cv_;
  const StepPlan* plan_ = nullptr;
  float* logits_ = nullptr;
  uint64_t job_ = 0;
  int pending_ = 0;
  bool stop_ = false;
  std::vector<std::exception_ptr> errors_;  // [n_], rank r writes only errors_[r] during a step
  std::vector<std::thread> workers_;
};

}  // namespace

std::unique_ptr<LlamaModel> create_tp_model(const std::vector<ModelWeights>& ranks, const ModelRuntimeOptions& opt) {
  return std::make_unique<TpModel>(ranks, opt);
}

std::unique_ptr<LlamaModel> create_model_for_ranks(const std::vector<ModelWeights>& ranks,
                                                   const ModelRuntimeOptions& opt) {
  LMD_CHECK(!ranks.empty()) << "model: no weights";
  if (ranks.size() == 1) return create_llama_model(ranks[0], opt);
  return create_tp_model(ranks, opt);
}

std::unique_ptr<LlamaModel> create_model_for_ranks(std::vector<ModelWeights>&& ranks, const ModelRuntimeOptions& opt) {
  LMD_CHECK(!ranks.empty()) << "model: no weights";
  if (ranks.size() == 1) return create_llama_model(std::move(ranks[0]), opt);
  return create_tp_model(ranks, opt);
}

}  // namespace lmd
