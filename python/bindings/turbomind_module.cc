// lmdeploy._turbomind: the C++ engine for Python (the friendly API is python/lmdeploy/*.py).
//
// Threads: every call that may block (loading a model, waiting for output, joining a
// stream's helper thread) releases the GIL, so the engine thread and other Python threads
// run meanwhile. Waiting for output wakes every 50 ms to check for signals: Ctrl-C cancels
// the request and raises KeyboardInterrupt in the waiting thread.
// Errors: lmd::Error -> ValueError (invalid argument), FileNotFoundError (not found),
// RuntimeError (anything else), with the C++ message unchanged.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "common/paths.h"
#include "lmdeploy/engine.h"
#include "stream_pump.h"
#include "template/chat_formatter.h"
#include "template/chat_template.h"
#if LMDEPLOY_CUDA_ENABLED
#include "backend/cuda/cuda_backend.h"
#endif

namespace py = pybind11;

namespace lmd::py_bindings {

using lmd::python::StreamPump;

// A submitted request's output, read chunk by chunk.
class Stream {
 public:
  explicit Stream(std::shared_ptr<OutputStream> s) : pump_(std::make_unique<StreamPump>(std::move(s))) {}

  // The next chunk, or None after the last one. Interruptible (see the file comment).
  std::optional<GenerationOutput> next() {
    if (!pump_) return std::nullopt;
    GenerationOutput out;
    while (true) {
      StreamPump::Wait w;
      {
        py::gil_scoped_release release;
        w = pump_->next_for(std::chrono::milliseconds(50), &out);
      }
      if (w == StreamPump::Wait::kChunk) return out;
      if (w == StreamPump::Wait::kEnd) return std::nullopt;
      if (PyErr_CheckSignals() != 0) {
        pump_->cancel();
        throw py::error_already_set();
      }
    }
  }
  void cancel() {
    if (pump_) pump_->cancel();
  }
  // Cancels the request if it still runs and waits until the engine let it go.
  void close() {
    if (!pump_) return;
    py::gil_scoped_release release;
    pump_.reset();
  }

 private:
  std::unique_ptr<StreamPump> pump_;
};

std::vector<ChatMessage> to_messages(const py::handle& messages) {
  if (!py::isinstance<py::list>(messages) && !py::isinstance<py::tuple>(messages))
    throw py::type_error("messages must be a list of {'role': ..., 'content': ...} dicts");
  std::vector<ChatMessage> out;
  size_t i = 0;
  for (const py::handle& m : messages) {
    if (!py::isinstance<py::dict>(m))
      throw py::type_error("messages[" + std::to_string(i) + "] must be a dict with 'role' and 'content', got " +
                           std::string(py::str(py::type::of(m).attr("__name__"))));
    py::dict d = py::reinterpret_borrow<py::dict>(m);
    for (const char* key : {"role", "content"}) {
      if (!d.contains(key) || !py::isinstance<py::str>(d[key]))
        throw py::type_error("messages[" + std::to_string(i) + "]['" + key + "'] must be a str");
    }
    out.push_back({d["role"].cast<std::string>(), d["content"].cast<std::string>()});
    ++i;
  }
  return out;
}

void translate_errors() {
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      switch (e.kind()) {
        case Error::Kind::kInvalidArgument: PyErr_SetString(PyExc_ValueError, e.what()); break;
        case Error::Kind::kNotFound: PyErr_SetString(PyExc_FileNotFoundError, e.what()); break;
        default: PyErr_SetString(PyExc_RuntimeError, e.what()); break;
      }
    }
  });
}

void bind_configs(py::module_& m) {
  py::class_<EngineConfig>(m, "EngineConfig")
      .def(py::init<>())
      .def_readwrite("session_len", &EngineConfig::session_len)
      .def_readwrite("max_batch_size", &EngineConfig::max_batch_size)
      .def_readwrite("cache_max_entry_count", &EngineConfig::cache_max_entry_count)
      .def_readwrite("cache_block_seq_len", &EngineConfig::cache_block_seq_len)
      .def_readwrite("max_prefill_token_num", &EngineConfig::max_prefill_token_num)
      .def_readwrite("max_prefill_token_num_decoding", &EngineConfig::max_prefill_token_num_decoding)
      .def_readwrite("quant_policy", &EngineConfig::quant_policy)
      .def_readwrite("enable_prefix_caching", &EngineConfig::enable_prefix_caching)
      .def_readwrite("threads", &EngineConfig::threads)
      .def_readwrite("device", &EngineConfig::device)
      .def_readwrite("device_sampling", &EngineConfig::device_sampling)
      .def_readwrite("tp", &EngineConfig::tp)
      .def_readwrite("model_name", &EngineConfig::model_name)
      .def_readwrite("chat_template", &EngineConfig::chat_template);

  py::class_<GenerationConfig>(m, "GenerationConfig")
      .def(py::init<>())
      .def_readwrite("max_new_tokens", &GenerationConfig::max_new_tokens)
      .def_readwrite("min_new_tokens", &GenerationConfig::min_new_tokens)
      .def_readwrite("temperature", &GenerationConfig::temperature)
      .def_readwrite("top_k", &GenerationConfig::top_k)
      .def_readwrite("top_p", &GenerationConfig::top_p)
      .def_readwrite("min_p", &GenerationConfig::min_p)
      .def_readwrite("repetition_penalty", &GenerationConfig::repetition_penalty)
      .def_readwrite("presence_penalty", &GenerationConfig::presence_penalty)
      .def_readwrite("frequency_penalty", &GenerationConfig::frequency_penalty)
      .def_readwrite("seed", &GenerationConfig::seed)
      .def_readwrite("ignore_eos", &GenerationConfig::ignore_eos)
      .def_readwrite("stop_token_ids", &GenerationConfig::stop_token_ids)
      .def_readwrite("stop_strings", &GenerationConfig::stop_strings)
      .def_readwrite("logprobs", &GenerationConfig::logprobs)
      .def_readwrite("top_logprobs", &GenerationConfig::top_logprobs)
      .def("validate", [](const GenerationConfig& g) { validate(g); },
           "Raises ValueError naming the field and value when one is out of range.");
}

void bind_outputs(py::module_& m) {
  py::class_<GenerationOutput>(m, "GenerationOutput")
      .def_readonly("token_ids", &GenerationOutput::token_ids)
      .def_readonly("text", &GenerationOutput::text)
      .def_readonly("finish_reason", &GenerationOutput::finish_reason)
      .def_readonly("error", &GenerationOutput::error)
      .def_property_readonly("prompt_tokens", [](const GenerationOutput& o) { return o.usage.prompt_tokens; })
      .def_property_readonly("completion_tokens",
                             [](const GenerationOutput& o) { return o.usage.completion_tokens; });

  py::class_<Stream>(m, "Stream")
      .def("next", &Stream::next, "The next output chunk, or None after the last one (Ctrl-C cancels).")
      .def("cancel", &Stream::cancel, "Asks the engine to stop this request (finish_reason 'cancelled').")
      .def("close", &Stream::close, "Cancels the request if still running and releases it.");

  py::class_<EngineStats>(m, "EngineStats")
      .def_readonly("kv_blocks_total", &EngineStats::kv_blocks_total)
      .def_readonly("kv_blocks_free", &EngineStats::kv_blocks_free)
      .def_readonly("kv_blocks_active", &EngineStats::kv_blocks_active)
      .def_readonly("kv_blocks_cached", &EngineStats::kv_blocks_cached)
      .def_readonly("kv_block_len", &EngineStats::kv_block_len)
      .def_readonly("kv_block_bytes", &EngineStats::kv_block_bytes)
      .def_readonly("kv_pool_bytes", &EngineStats::kv_pool_bytes)
      .def_readonly("running", &EngineStats::running)
      .def_readonly("waiting", &EngineStats::waiting)
      .def_readonly("sessions", &EngineStats::sessions)
      .def_readonly("steps", &EngineStats::steps)
      .def_readonly("prefill_tokens", &EngineStats::prefill_tokens)
      .def_readonly("decode_tokens", &EngineStats::decode_tokens)
      .def_readonly("session_reused_tokens", &EngineStats::session_reused_tokens)
      .def_readonly("prefix_query_tokens", &EngineStats::prefix_query_tokens)
      .def_readonly("prefix_hit_tokens", &EngineStats::prefix_hit_tokens)
      .def_readonly("preemptions", &EngineStats::preemptions)
      .def_readonly("requests_finished", &EngineStats::requests_finished)
      .def_readonly("sampled_on_device", &EngineStats::sampled_on_device)
      .def_readonly("sampled_on_host", &EngineStats::sampled_on_host)
      .def_property_readonly("prefix_hit_rate", &EngineStats::prefix_hit_rate);

  py::class_<ModelInfo>(m, "ModelInfo")
      .def_readonly("model_name", &ModelInfo::model_name)
      .def_readonly("eos_id", &ModelInfo::eos_id)
      .def_readonly("vocab_size", &ModelInfo::vocab_size)
      .def_readonly("session_len", &ModelInfo::session_len);
}

void bind_engine(py::module_& m) {
  py::class_<Engine, std::unique_ptr<Engine>>(m, "Engine")
      .def(py::init([](const std::string& path, const EngineConfig& cfg) {
             py::gil_scoped_release release;
             return Engine::create(path, cfg);
           }),
           py::arg("path"), py::arg("config") = EngineConfig{})
      .def(
          "submit",
          [](Engine& e, int64_t session_id, std::vector<int32_t> prompt_ids, const GenerationConfig& gen,
             bool sequence_start, bool sequence_end) {
            validate(gen);  // a bad field raises here instead of arriving as an error chunk
            Request r;
            r.session_id = session_id;
            r.prompt_ids = std::move(prompt_ids);
            r.gen = gen;
            r.sequence_start = sequence_start;
            r.sequence_end = sequence_end;
            return std::make_unique<Stream>(e.submit(std::move(r)));
          },
          py::arg("session_id"), py::arg("prompt_ids"), py::arg("gen"), py::arg("sequence_start") = true,
          py::arg("sequence_end") = true, py::keep_alive<0, 1>())
      .def("end_session", &Engine::end_session, py::arg("session_id"),
           "Forgets a session's KV (cancels its in-flight request, if any).")
      .def("stats", &Engine::stats)
      .def_property_readonly("info", &Engine::info, py::return_value_policy::reference_internal)
      .def("encode", &Engine::encode, py::arg("text"), py::arg("add_bos") = true)
      .def("decode", &Engine::decode, py::arg("ids"))
      .def("token_id", &Engine::token_id, py::arg("piece"))
      .def(
          "render_chat",
          [](const Engine& e, const py::object& messages, const py::object& tools, bool add_generation_prompt) {
            // Through JSON text: the dicts' key order is kept, as the template sees it in Python.
            const py::object dumps = py::module_::import("json").attr("dumps");
            const auto as_json = [&](const py::object& o) {
              return nlohmann::ordered_json::parse(dumps(o, py::arg("ensure_ascii") = false).cast<std::string>());
            };
            const nlohmann::ordered_json m = as_json(messages);
            const nlohmann::ordered_json t = tools.is_none() ? nlohmann::ordered_json() : as_json(tools);
            return e.chat_formatter().render(m, t, add_generation_prompt);
          },
          py::arg("messages"), py::arg("tools") = py::none(), py::arg("add_generation_prompt") = true,
          "The prompt the model's chat template makes of OpenAI messages (what api_server encodes).")
      .def_property_readonly("chat_template_kind", [](const Engine& e) { return e.chat_formatter().kind(); })
      .def_property_readonly("chat_stop_words", [](const Engine& e) { return e.chat_formatter().stop_words(); })
      .def_property_readonly("chat_add_bos", [](const Engine& e) { return e.chat_formatter().add_bos(); });
}

void bind_templates(py::module_& m) {
  py::class_<ChatTemplate>(m, "ChatTemplate")
      .def(py::init<>())
      .def_readwrite("model_name", &ChatTemplate::model_name)
      .def_readwrite("system", &ChatTemplate::system)
      .def_readwrite("meta_instruction", &ChatTemplate::meta_instruction)
      .def_readwrite("eosys", &ChatTemplate::eosys)
      .def_readwrite("user", &ChatTemplate::user)
      .def_readwrite("eoh", &ChatTemplate::eoh)
      .def_readwrite("assistant", &ChatTemplate::assistant)
      .def_readwrite("eoa", &ChatTemplate::eoa)
      .def_readwrite("separator", &ChatTemplate::separator)
      .def_readwrite("capability", &ChatTemplate::capability)
      .def_readwrite("stop_words", &ChatTemplate::stop_words)
      .def_readwrite("session_len", &ChatTemplate::session_len)
      .def("get_prompt", &ChatTemplate::get_prompt, py::arg("prompt"), py::arg("sequence_start") = true)
      .def(
          "messages2prompt",
          [](const ChatTemplate& t, const py::object& messages) { return t.messages2prompt(to_messages(messages)); },
          py::arg("messages"));
  m.def("get_template", &get_template, py::arg("name"));
  m.def("load_template_json", &load_template_json, py::arg("path"));
  m.def("template_names", &template_names);
  m.def("default_model_path", &default_model_path);
  m.def("ensure_default_model", [] {
    py::gil_scoped_release release;
    return ensure_default_model();
  });
}

}  // namespace lmd::py_bindings

PYBIND11_MODULE(_turbomind, m) {
#if LMDEPLOY_CUDA_ENABLED
  lmd::register_cuda_device_kind();  // device="cuda" (src/backend/device_registry.h)
#endif
  m.doc() = "lmdeploy C++ engine (CPU): Engine, Stream, ChatTemplate";
  m.attr("__version__") = LMDEPLOY_VERSION;
  lmd::py_bindings::translate_errors();
  lmd::py_bindings::bind_configs(m);
  lmd::py_bindings::bind_outputs(m);
  lmd::py_bindings::bind_engine(m);
  lmd::py_bindings::bind_templates(m);
}
