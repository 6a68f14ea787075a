"""`from lmdeploy import turbomind as tm`: lmdeploy v0.1's TurboMind Python API over our C++ engine.

    tm_model = tm.TurboMind.from_pretrained(path, model_name='smollm2')
    generator = tm_model.create_instance()
    prompt = tm_model.model.get_prompt("hi")
    input_ids = tm_model.tokenizer.encode(prompt)
    for outputs in generator.stream_infer(session_id=0, input_ids=[input_ids]):
        res, tokens = outputs[0]          # all output ids so far (numpy), their count
    print(tm_model.tokenizer.decode(res.tolist()))

The engine runs on its own thread; waiting for output releases the GIL. Ctrl-C while
stream_infer waits cancels the request and ends its session (frees its KV).
"""

import os
from typing import Iterator, List, Optional, Tuple

import numpy as np

from . import _turbomind as _tm
from .messages import GenerationConfig, check_type

# EngineConfig fields a caller may set, with their Python kinds.
ENGINE_OPTIONS = {
    "session_len": "int",
    "max_batch_size": "int",
    "cache_max_entry_count": "float",
    "cache_block_seq_len": "int",
    "max_prefill_token_num": "int",
    "max_prefill_token_num_decoding": "int",
    "quant_policy": "int",
    "enable_prefix_caching": "bool",
    "threads": "int",
    "tp": "int",
    "device": "str",
}
_NON_NEGATIVE = ("session_len", "max_batch_size", "max_prefill_token_num", "max_prefill_token_num_decoding", "threads")


def engine_config(model_name: Optional[str], options: dict) -> "_tm.EngineConfig":
    """Engine options -> the C++ EngineConfig; TypeError / ValueError name the option."""
    cfg = _tm.EngineConfig()
    for name, value in options.items():
        kind = ENGINE_OPTIONS.get(name)
        if kind is None:
            raise TypeError(f"unknown engine option {name!r}; known: {', '.join(sorted(ENGINE_OPTIONS))}")
        check_type("engine option", name, value, kind)
        if name in _NON_NEGATIVE and value < 0:
            raise ValueError(f"engine option {name} must be >= 0, got {value}")
        if name == "cache_max_entry_count" and not value > 0:
            raise ValueError(f"engine option cache_max_entry_count must be > 0, got {value}")
        setattr(cfg, name, value)
    if model_name is not None:
        check_type("TurboMind", "model_name", model_name, "str")
        if model_name not in _tm.template_names():
            raise ValueError(f"unknown model_name {model_name!r}; known: {', '.join(_tm.template_names())}")
        cfg.model_name = model_name
    return cfg


def resolve_model_path(path) -> str:
    """None -> the default SmolLM2 (fetched when missing); else an existing local path
    (`~` expanded; surrounding blanks ignored, like the seed's " /root/...")."""
    if path is None:
        return _tm.ensure_default_model()
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"model path must be a str or os.PathLike, got {type(path).__name__}")
    path = os.path.expanduser(os.fspath(path).strip())
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"model path {path!r} does not exist (give a TurboMind workspace, a Hugging Face "
            "model directory or a .gguf file; downloading hub repo ids is not supported)")
    return path


def engine_error(message: str) -> Exception:
    """The Python exception for an engine 'error' chunk: the request was refused (ValueError)
    unless a model step itself failed (RuntimeError)."""
    if message.startswith("engine step failed"):
        return RuntimeError(message)
    return ValueError(message)


def one_sequence(input_ids, vocab_size: int) -> List[int]:
    """input_ids as lmdeploy v0.1 takes them (ids, or [ids] for a batch of one) -> ids."""
    if isinstance(input_ids, np.ndarray):
        input_ids = input_ids.tolist()
    if not isinstance(input_ids, (list, tuple)):
        raise TypeError(f"input_ids must be a list of token ids (or [ids]), got {type(input_ids).__name__}")
    if input_ids and isinstance(input_ids[0], (list, tuple, np.ndarray)):
        if len(input_ids) != 1:
            raise ValueError(f"input_ids holds {len(input_ids)} sequences; stream_infer takes one per call "
                             "(use one session per sequence, or lmdeploy.pipeline for batches)")
        input_ids = input_ids[0]
        if isinstance(input_ids, np.ndarray):
            input_ids = input_ids.tolist()
    ids = []
    for i, t in enumerate(input_ids):
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)):
            raise TypeError(f"input_ids[{i}] must be an int token id, got {type(t).__name__} {t!r}")
        t = int(t)
        if not 0 <= t < vocab_size:
            raise ValueError(f"input_ids[{i}] = {t} is outside the vocabulary [0, {vocab_size})")
        ids.append(t)
    return ids


class Tokenizer:
    """The model's tokenizer (through the engine, so ids match what it computes on)."""

    def __init__(self, engine: "_tm.Engine"):
        self._engine = engine
        self.vocab_size = engine.info.vocab_size
        self.eos_token_id = engine.info.eos_id

    def encode(self, s: str, add_bos: bool = True) -> List[int]:
        """Token ids of `s`; add_bos prepends BOS when the model expects one. Special-token
        text in `s` (e.g. '<|im_start|>') becomes the special token."""
        check_type("Tokenizer.encode", "s", s, "str")
        return self._engine.encode(s, add_bos)

    def decode(self, t, offset: Optional[int] = None) -> str:
        """Text of ids `t` (special tokens dropped); `offset` skips the first ids (v0.1)."""
        if isinstance(t, np.ndarray):
            t = t.tolist()
        if not isinstance(t, (list, tuple)):
            raise TypeError(f"Tokenizer.decode: ids must be a list of ints, got {type(t).__name__}")
        if offset:
            t = t[offset:]
        return self._engine.decode([int(x) for x in t])

    def __call__(self, s: str) -> List[int]:
        return self.encode(s)


class TurboMind:
    """A loaded model: `.tokenizer`, `.model` (its chat template), `create_instance()`."""

    def __init__(self, model_path=None, model_name: Optional[str] = None, chat_template: Optional[str] = None,
                 **engine_options):
        path = resolve_model_path(model_path)
        cfg = engine_config(model_name, engine_options)
        if chat_template is not None:
            check_type("TurboMind", "chat_template", chat_template, "str")
            cfg.chat_template = chat_template  # the engine's template (Pipeline, api_server)
        self.model_path = path
        self.engine = _tm.Engine(path, cfg)
        self.tokenizer = Tokenizer(self.engine)
        # `.model`: the seed's registry template (get_prompt, stop_words) for stream_infer users.
        if chat_template is not None and os.path.isfile(chat_template) and chat_template.endswith(".json"):
            self.model = _tm.load_template_json(chat_template)
        elif chat_template is not None and not os.path.isfile(chat_template):
            self.model = _tm.get_template(chat_template)
        else:
            self.model = _tm.get_template(self.engine.info.model_name)
        self.model_name = self.model.model_name
        self.session_len = self.engine.info.session_len
        self.eos_id = self.engine.info.eos_id

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path=None, model_name: Optional[str] = None,
                        **engine_options) -> "TurboMind":
        """Loads a TurboMind workspace, a Hugging Face model directory or a .gguf file.

        engine_options: session_len, cache_max_entry_count, max_batch_size, quant_policy,
        threads, enable_prefix_caching, cache_block_seq_len, max_prefill_token_num, tp, device;
        chat_template= a template name or JSON file (default: the model's, or model_name's).
        """
        return cls(pretrained_model_name_or_path, model_name=model_name, **engine_options)

    def create_instance(self, cuda_stream_id: int = 0) -> "TurboMindInstance":
        """A generator for stream_infer (cuda_stream_id is accepted for v0.1 compatibility)."""
        del cuda_stream_id
        return TurboMindInstance(self)

    def stats(self) -> "_tm.EngineStats":
        """Engine counters: prefill_tokens, decode_tokens, session_reused_tokens, kv_blocks_*..."""
        return self.engine.stats()

    def generation_config(self, **kwargs) -> "_tm.GenerationConfig":
        """The C++ GenerationConfig for these options plus the template's stop words."""
        return GenerationConfig(**kwargs).to_engine(_tm, self.model.stop_words, self.engine.token_id)


class TurboMindInstance:
    """Runs requests of a TurboMind model, one stream per session (v0.1's generator)."""

    def __init__(self, tm_model: TurboMind):
        self.tm_model = tm_model
        self._engine = tm_model.engine
        self._streams = {}  # session_id -> the stream of its request in flight

    def stream_infer(self, session_id: int, input_ids, request_output_len: int = 512,
                     sequence_start: bool = True, sequence_end: bool = False, step: int = 0,
                     stop: bool = False, top_p: float = 0.8, top_k: int = 40, temperature: float = 0.8,
                     repetition_penalty: float = 1.0, ignore_eos: bool = False,
                     random_seed: Optional[int] = None, stream_output: bool = True,
                     stop_words: Optional[List[str]] = None) -> Iterator[List[Tuple[np.ndarray, int]]]:
        """Generates an answer to `input_ids` in session `session_id`.

        Yields [(res, n)] after each chunk (only the last one when stream_output=False): res is a
        numpy int32 array of ALL output ids so far (stop tokens excluded), n = len(res).
        sequence_start=True starts the session afresh; False appends to its history, whose KV
        is kept (only the new ids are prefilled). sequence_end=True frees the session's KV
        when done. stop=True ends the session (cancels its request in flight). `step` (the
        history length in v0.1) is tracked by the engine and ignored here.
        Leaving the loop early cancels the request; Ctrl-C also ends the session.
        """
        del step
        check_type("stream_infer", "session_id", session_id, "int")
        if stop:
            self.end(session_id)
            yield [(np.zeros(0, dtype=np.int32), 0)]
            return
        check_type("stream_infer", "request_output_len", request_output_len, "int")
        for name, value in (("sequence_start", sequence_start), ("sequence_end", sequence_end),
                            ("stream_output", stream_output)):
            check_type("stream_infer", name, value, "bool")
        ids = one_sequence(input_ids, self.tm_model.tokenizer.vocab_size)
        gen = GenerationConfig(max_new_tokens=request_output_len, top_k=top_k, top_p=top_p,
                               temperature=temperature, repetition_penalty=repetition_penalty,
                               ignore_eos=ignore_eos, random_seed=random_seed, stop_words=stop_words)
        cfg = gen.to_engine(_tm, self.tm_model.model.stop_words, self._engine.token_id)
        stream = self._engine.submit(session_id, ids, cfg, sequence_start, sequence_end)
        self._streams[session_id] = stream
        tokens: List[int] = []
        done = False
        try:
            while True:
                chunk = stream.next()
                if chunk is None:
                    break
                if chunk.finish_reason == "error":
                    done = True
                    raise engine_error(chunk.error)
                tokens.extend(chunk.token_ids)
                done = bool(chunk.finish_reason)
                if stream_output or done:
                    yield [(np.array(tokens, dtype=np.int32), len(tokens))]
                if done:
                    break
        except KeyboardInterrupt:
            stream.close()
            self._engine.end_session(session_id)
            raise
        finally:
            if self._streams.get(session_id) is stream:
                del self._streams[session_id]
            if not done:
                stream.close()

    def cancel(self, session_id: int) -> None:
        """Stops the session's request in flight (its stream_infer ends with what it has);
        the session keeps its history (end() frees it)."""
        stream = self._streams.get(session_id)
        if stream is not None:
            stream.cancel()

    def end(self, session_id: int) -> None:
        """Ends the session: cancels its request in flight and frees its KV."""
        check_type("end", "session_id", session_id, "int")
        self._engine.end_session(session_id)
