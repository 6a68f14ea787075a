#include <algorithm>
#include <random>

#include "core/error.h"
#include "common/logging.h"
#include "engine/engine_impl.h"
#include "template/chat_formatter.h"

namespace lmd {

std::unique_ptr<Engine> Engine::create(std::unique_ptr<Model> model, std::unique_ptr<TextCodec> codec,
                                       const EngineConfig& cfg, std::shared_ptr<const ChatFormatter> chat_formatter) {
  return std::make_unique<EngineImpl>(std::move(model), std::move(codec), cfg, std::move(chat_formatter));
}

namespace {
int pick(int from_cfg, int from_model) { return from_cfg > 0 ? from_cfg : from_model; }

// `cfg` with the sizes it leaves at 0 taken from the model (validated by EngineImpl).
EngineConfig with_model_defaults(EngineConfig cfg, const Model* model) {
  if (!model) return cfg;
  const ModelConfig& mc = model->config();
  cfg.session_len = pick(cfg.session_len, mc.session_len);
  cfg.max_batch_size = pick(cfg.max_batch_size, mc.max_batch_size);
  cfg.max_prefill_token_num = pick(cfg.max_prefill_token_num, mc.max_prefill_token_num);
  return cfg;
}

SchedulerConfig scheduler_config(const EngineConfig& cfg) {
  SchedulerConfig s;
  s.max_batch_size = cfg.max_batch_size;
  s.max_prefill_token_num = cfg.max_prefill_token_num;
  s.max_prefill_token_num_decoding = cfg.max_prefill_token_num_decoding;
  return s;
}
}  // namespace

EngineImpl::EngineImpl(std::unique_ptr<Model> model, std::unique_ptr<TextCodec> codec, const EngineConfig& cfg,
                       std::shared_ptr<const ChatFormatter> chat_formatter)
    : model_(std::move(model)),
      codec_(std::move(codec)),
      chat_formatter_(std::move(chat_formatter)),
      cfg_(with_model_defaults(cfg, model_.get())),
      inbox_(std::make_shared<Inbox>()),
      blocks_(model_ ? model_->kv_num_blocks() : 0, model_ ? model_->kv_layout().block_bytes() : 0),
      seqs_(blocks_, model_ ? model_->kv_layout().block_len : 0, cfg.enable_prefix_caching),
      scheduler_(seqs_, scheduler_config(cfg_)) {
  LMD_CHECK(model_ && codec_) << "Engine::create: model and tokenizer are required";
  const ModelConfig& mc = model_->config();
  block_len_ = model_->kv_layout().block_len;
  vocab_ = mc.vocab_size;
  LMD_CHECK(cfg_.max_prefill_token_num_decoding >= 0)
      << "max_prefill_token_num_decoding must be >= 0, got " << cfg_.max_prefill_token_num_decoding;
  LMD_CHECK(cfg_.session_len > 1) << "session_len must be > 1, got " << cfg_.session_len;
  LMD_CHECK(cfg_.max_batch_size > 0) << "max_batch_size must be > 0, got " << cfg_.max_batch_size;
  LMD_CHECK(cfg_.max_prefill_token_num > 0) << "max_prefill_token_num must be > 0, got "
                                            << cfg_.max_prefill_token_num;
  info_.model_name = cfg.model_name.empty() ? mc.model_name : cfg.model_name;
  info_.eos_id = codec_->eos_id() >= 0 ? codec_->eos_id() : mc.end_id;
  info_.vocab_size = vocab_;
  info_.session_len = cfg_.session_len;
  if (!chat_formatter_) {
    const std::string name = has_template(info_.model_name) ? info_.model_name : "base";
    chat_formatter_ = make_registry_formatter(get_template(name), "registry '" + name + "'");
  }
  seed_base_ = std::random_device{}();
  // At most one logits row per running sequence, and at most max_batch_size run at once.
  device_sampling_ = cfg_.device_sampling && model_->enable_device_sampling(cfg_.max_batch_size);
  if (device_sampling_) LMD_LOG_INFO("engine: sampling on the device (rows with logprobs on the host)");
  counters_.kv_block_len = block_len_;
  counters_.kv_block_bytes = blocks_.block_bytes();
  counters_.kv_pool_bytes = blocks_.pool_bytes();
  LMD_LOG_INFO("engine: KV pool {} blocks x {} tokens = {} tokens, {:.1f} MiB; session_len {}, max_batch_size {}",
               blocks_.num_blocks(), block_len_, static_cast<int64_t>(blocks_.num_blocks()) * block_len_,
               blocks_.pool_bytes() / 1048576.0, cfg_.session_len, cfg_.max_batch_size);
  publish_stats();
  thread_ = std::thread([this] { run(); });
}

EngineImpl::~EngineImpl() {
  {
    std::lock_guard<std::mutex> lock(inbox_->mu);
    inbox_->stop = true;
  }
  inbox_->cv.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<OutputStream> EngineImpl::submit(Request request) {
  std::weak_ptr<Inbox> weak = inbox_;
  auto stream = std::make_shared<StreamImpl>([weak] {
    if (auto inbox = weak.lock()) inbox->notify();
  });
  {
    std::lock_guard<std::mutex> lock(inbox_->mu);
    if (inbox_->stop) {
      GenerationOutput out;
      out.finish_reason = "error";
      out.error = "engine is shutting down";
      stream->push(out);
      return stream;
    }
    Inbox::Command cmd;
    cmd.kind = Inbox::Command::kSubmit;
    cmd.request = std::move(request);
    cmd.stream = stream;
    inbox_->commands.push_back(std::move(cmd));
  }
  inbox_->cv.notify_all();
  return stream;
}

void EngineImpl::end_session(int64_t session_id) {
  {
    std::lock_guard<std::mutex> lock(inbox_->mu);
    Inbox::Command cmd;
    cmd.kind = Inbox::Command::kEndSession;
    cmd.session_id = session_id;
    inbox_->commands.push_back(std::move(cmd));
  }
  inbox_->cv.notify_all();
}

EngineStats EngineImpl::stats() const {
  std::lock_guard<std::mutex> lock(stats_mu_);
  return stats_snapshot_;
}

std::vector<int32_t> EngineImpl::encode(const std::string& text, bool add_bos) const {
  return codec_->encode(text, add_bos);
}
std::string EngineImpl::decode(const std::vector<int32_t>& ids) const { return codec_->decode(ids); }
int32_t EngineImpl::token_id(const std::string& piece) const { return codec_->token_id(piece); }

// ---------------------------------------------------------------- engine thread

void EngineImpl::run() {
  while (true) {
    std::deque<Inbox::Command> cmds;
    {
      std::unique_lock<std::mutex> lock(inbox_->mu);
      inbox_->cv.wait(lock, [&] {
        return inbox_->stop || !inbox_->commands.empty() || inbox_->wake || !scheduler_.empty();
      });
      if (inbox_->stop) {
        cmds.swap(inbox_->commands);
        lock.unlock();
        for (auto& c : cmds) {
          if (c.stream) {
            GenerationOutput out;
            out.finish_reason = "cancelled";
            c.stream->push(out);
          }
        }
        break;
      }
      cmds.swap(inbox_->commands);
      inbox_->wake = false;
    }
    try {
      for (auto& c : cmds) handle(c);
      reap_cancelled();
      const StepDecisions decisions = scheduler_.schedule();
      const StepPlan& plan = decisions.plan;
      const std::vector<ActiveRequest*> planned = apply(decisions);
      if (!plan.seqs.empty()) {
        logits_.resize(static_cast<size_t>(std::max(1, plan.num_logit_rows())) * vocab_);
        if (device_sampling_) {
          build_sampling(plan, planned);
          model_->forward_sample(plan, logits_.data(), &sampling_);
          LMD_CHECK_KIND(static_cast<int>(sampling_.tokens.size()) == sampling_.rows(), kInternal)
              << "forward_sample returned " << sampling_.tokens.size() << " tokens for " << sampling_.rows() << " rows";
        } else {
          model_->forward(plan, logits_.data());
        }
        ++counters_.steps;
        process_outputs(plan, planned);
      }
    } catch (const std::exception& e) {
      LMD_LOG_ERROR("engine step failed: {}", e.what());
      fail_all(std::string("engine step failed: ") + e.what());
    }
    publish_stats();
  }
  // Shutting down: every open stream gets its last chunk.
  while (!scheduler_.running().empty()) finish(request(scheduler_.running().back().arrival), "cancelled");
  while (!scheduler_.waiting().empty()) finish(request(scheduler_.waiting().back().arrival), "cancelled");
  publish_stats();
}

void EngineImpl::handle(Inbox::Command& cmd) {
  if (cmd.kind == Inbox::Command::kSubmit) {
    handle_submit(std::move(cmd.request), cmd.stream);
  } else {
    handle_end_session(cmd.session_id);
  }
}

namespace {
GenerationOutput error_output(const std::string& msg) {
  GenerationOutput out;
  out.finish_reason = "error";
  out.error = msg;
  return out;
}
}  // namespace

void EngineImpl::handle_submit(Request req, std::shared_ptr<StreamImpl> stream) {
  try {
    validate(req.gen);
  } catch (const Error& e) {
    stream->push(error_output(e.what()));
    return;
  }
  if (req.session_id == -1) req.session_id = next_auto_session_--;
  auto sit = sessions_.find(req.session_id);
  if (sit != sessions_.end() && sit->second.active) {
    stream->push(error_output("session " + std::to_string(req.session_id) + " is busy with another request"));
    return;
  }
  const bool fresh = req.sequence_start || sit == sessions_.end();
  const size_t history = fresh ? 0 : sit->second.seq.tokens.size();
  const size_t total = history + req.prompt_ids.size();
  if (req.prompt_ids.empty() && history == 0) {
    stream->push(error_output("empty prompt (session " + std::to_string(req.session_id) + ")"));
    return;
  }
  for (int32_t t : req.prompt_ids) {
    if (t < 0 || t >= vocab_) {
      stream->push(error_output("prompt token id " + std::to_string(t) + " outside the vocabulary [0, " +
                                std::to_string(vocab_) + ")"));
      return;
    }
  }
  if (total >= static_cast<size_t>(cfg_.session_len)) {
    stream->push(error_output("prompt of " + std::to_string(req.prompt_ids.size()) + " tokens" +
                              (history ? " (+ " + std::to_string(history) + " tokens of session history)" : "") +
                              " does not fit session_len " + std::to_string(cfg_.session_len)));
    return;
  }
  Session& s = sessions_[req.session_id];
  s.id = req.session_id;
  if (fresh) {
    seqs_.drop(s.seq);
    s.seq = Sequence{};
    s.seq.session_id = s.id;
  }
  auto r = std::make_unique<ActiveRequest>();
  r->arrival = ++arrival_clock_;
  r->prompt_len = static_cast<int>(req.prompt_ids.size());
  s.seq.tokens.insert(s.seq.tokens.end(), req.prompt_ids.begin(), req.prompt_ids.end());
  r->sampler = std::make_unique<RequestSampler>(req.gen, info_.eos_id, s.seq.tokens, seed_base_ + r->arrival);
  // The last prompt tokens as decoding context (keeps a leading space of the answer).
  const size_t ctx = std::min<size_t>(4, s.seq.tokens.size());
  r->text = std::make_unique<IncrementalText>(
      *codec_, std::vector<int32_t>(s.seq.tokens.end() - ctx, s.seq.tokens.end()));
  r->stops = std::make_unique<StopStringMatcher>(req.gen.stop_strings);
  r->session = &s;
  r->request = std::move(req);
  r->stream = std::move(stream);
  s.active = r.get();
  ActiveRequest* raw = r.get();
  requests_.emplace(raw->arrival, std::move(r));
  if (raw->request.gen.max_new_tokens == 0) {
    finish(raw, "length");
    return;
  }
  scheduler_.add_waiting(raw->arrival, &s.seq);
}

void EngineImpl::handle_end_session(int64_t session_id) {
  auto it = sessions_.find(session_id);
  if (it == sessions_.end()) return;
  if (it->second.active) {
    it->second.active->request.sequence_end = true;
    finish(it->second.active, "cancelled");
    return;  // finish() dropped the session
  }
  seqs_.drop(it->second.seq);
  sessions_.erase(it);
}

void EngineImpl::reap_cancelled() {
  std::vector<ActiveRequest*> victims;
  for (const SchedulerEntry& e : scheduler_.running())
    if (request(e.arrival)->stream->cancel_requested()) victims.push_back(request(e.arrival));
  for (const SchedulerEntry& e : scheduler_.waiting())
    if (request(e.arrival)->stream->cancel_requested()) victims.push_back(request(e.arrival));
  for (ActiveRequest* r : victims) finish(r, "cancelled");
}

ActiveRequest* EngineImpl::request(uint64_t arrival) const {
  auto it = requests_.find(arrival);
  LMD_CHECK_KIND(it != requests_.end(), kInternal) << "scheduler names request " << arrival << ", which is gone";
  return it->second.get();
}

std::vector<ActiveRequest*> EngineImpl::apply(const StepDecisions& d) {
  counters_.preemptions += static_cast<int64_t>(d.preempted.size());
  for (const Admission& a : d.admitted) {
    ActiveRequest* r = request(a.arrival);
    if (r->first_admission && a.resumed) counters_.session_reused_tokens += a.kv_len_at_lock;
    r->first_admission = false;
  }
  // The scheduler already dropped their KV; finish() ends the request and its session.
  for (const SchedulingFailure& f : d.failed) finish(request(f.arrival), "error", error_output(f.message));
  std::vector<ActiveRequest*> planned;
  planned.reserve(d.planned.size());
  for (uint64_t arrival : d.planned) planned.push_back(request(arrival));
  return planned;
}

void EngineImpl::build_sampling(const StepPlan& plan, const std::vector<ActiveRequest*>& planned) {
  sampling_.clear();
  for (size_t i = 0; i < plan.seqs.size(); ++i) {
    if (!plan.seqs[i].need_logits) continue;
    RequestSampler& s = *planned[i]->sampler;
    if (s.wants_logprobs()) {
      sampling_.add_host_row();
    } else {
      s.add_device_row(&sampling_);
    }
  }
}

void EngineImpl::process_outputs(const StepPlan& plan, const std::vector<ActiveRequest*>& planned) {
  int row = 0;
  for (size_t i = 0; i < plan.seqs.size(); ++i) {
    const StepSequence& ss = plan.seqs[i];
    ActiveRequest* r = planned[i];
    Sequence& seq = r->session->seq;
    seqs_.commit(seq, ss.history_len + ss.n_tokens);
    if (ss.n_tokens == 1 && r->generated > 0) {
      counters_.decode_tokens += 1;
    } else {
      counters_.prefill_tokens += ss.n_tokens;
    }
    if (!ss.need_logits) continue;
    const float* logits = logits_.data() + static_cast<size_t>(row) * vocab_;
    const int32_t on_device = device_sampling_ ? sampling_.tokens[row] : -1;
    ++row;
    TokenLogprob tl;
    if (on_device >= 0) {
      LMD_CHECK_KIND(on_device < vocab_, kInternal) << "device sampler returned token " << on_device << " (vocab "
                                                    << vocab_ << ")";
      r->sampler->accept(on_device);
      tl.token = on_device;
      ++counters_.sampled_on_device;
    } else {
      tl = r->sampler->sample(logits, vocab_);
      ++counters_.sampled_on_host;
    }
    const int32_t tok = tl.token;
    seq.tokens.push_back(tok);
    ++r->generated;
    const GenerationConfig& g = r->request.gen;

    GenerationOutput out;
    std::string reason;
    const bool stop_token = (tok == info_.eos_id && !g.ignore_eos) ||
                            std::find(g.stop_token_ids.begin(), g.stop_token_ids.end(), tok) != g.stop_token_ids.end();
    if (stop_token) {
      reason = "stop";
      out.stop_token = tok;
    } else {
      out.token_ids.push_back(tok);
      if (g.logprobs || g.top_logprobs > 0) out.logprobs.push_back(tl);
      out.text = r->stops->push(r->text->push(tok));
      if (r->stops->matched()) {
        reason = "stop";
      } else if (r->generated >= g.max_new_tokens || seq.tokens.size() >= static_cast<size_t>(cfg_.session_len)) {
        reason = "length";
      }
    }
    if (reason.empty()) {
      out.usage.prompt_tokens = r->prompt_len;
      out.usage.completion_tokens = r->generated;
      if (!out.token_ids.empty() || !out.text.empty()) r->stream->push(std::move(out));
    } else {
      finish(r, reason, std::move(out));
    }
  }
}

void EngineImpl::finish(ActiveRequest* r, const std::string& reason, GenerationOutput last) {
  if (reason != "error" && !r->stops->matched()) last.text += r->stops->push(r->text->flush());
  if (reason != "error" && !r->stops->matched()) last.text += r->stops->flush();
  last.finish_reason = reason;
  last.usage.prompt_tokens = r->prompt_len;
  last.usage.completion_tokens = r->generated;
  scheduler_.remove(r->arrival);
  Session* s = r->session;
  s->active = nullptr;
  if (r->request.sequence_end || reason == "error") {
    seqs_.drop(s->seq);
    sessions_.erase(s->id);
  } else {
    seqs_.unlock(s->seq);
  }
  r->stream->push(std::move(last));
  ++counters_.requests_finished;
  const uint64_t arrival = r->arrival;
  requests_.erase(arrival);  // destroys *r
}

void EngineImpl::fail_all(const std::string& message) {
  while (!scheduler_.running().empty())
    finish(request(scheduler_.running().back().arrival), "error", error_output(message));
}

void EngineImpl::publish_stats() {
  EngineStats s = counters_;
  const BlockCounts c = blocks_.counts();
  s.kv_blocks_total = c.total;
  s.kv_blocks_free = c.free;
  s.kv_blocks_active = c.active;
  s.kv_blocks_cached = c.cached;
  s.running = static_cast<int>(scheduler_.running().size());
  s.waiting = static_cast<int>(scheduler_.waiting().size());
  s.sessions = static_cast<int>(sessions_.size());
  s.prefix_query_tokens = seqs_.prefix_stats().query_tokens;
  s.prefix_hit_tokens = seqs_.prefix_stats().hit_tokens;
  std::lock_guard<std::mutex> lock(stats_mu_);
  stats_snapshot_ = s;
}

}  // namespace lmd
