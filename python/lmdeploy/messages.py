"""Configuration and result types of the Python API (names follow lmdeploy's)."""

import numbers
from dataclasses import dataclass, field, fields
from typing import List, Optional


def check_type(owner: str, name: str, value, kind) -> None:
    """TypeError naming `owner.name` when value is not of `kind` ('int', 'float', 'bool', 'str')."""
    if kind == "int":
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    elif kind == "float":
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    elif kind == "bool":
        ok = isinstance(value, bool)
    else:
        ok = isinstance(value, str)
    if not ok:
        raise TypeError(f"{owner}: {name} must be {kind}, got {type(value).__name__} {value!r}")


@dataclass
class GenerationConfig:
    """How one request samples and when it stops.

    Defaults are lmdeploy's GenerationConfig: top_k=1 makes generation greedy unless
    top_k is raised (or temperature set to 0, which is greedy whatever top_k).
    stop_words: extra stop strings; the chat template's stop words always apply.
    """

    max_new_tokens: int = 512
    top_k: int = 1
    top_p: float = 1.0
    temperature: float = 0.8
    repetition_penalty: float = 1.0
    ignore_eos: bool = False
    random_seed: Optional[int] = None
    stop_words: Optional[List[str]] = None
    min_new_tokens: int = 0
    min_p: float = 0.0

    _KINDS = {
        "max_new_tokens": "int", "top_k": "int", "top_p": "float", "temperature": "float",
        "repetition_penalty": "float", "ignore_eos": "bool", "min_new_tokens": "int",
        "min_p": "float",
    }

    def to_engine(self, tm, stop_words=(), token_id=None):
        """The C++ GenerationConfig; stop words that are single tokens stop on their id."""
        for f in fields(self):
            kind = self._KINDS.get(f.name)
            if kind:
                check_type("GenerationConfig", f.name, getattr(self, f.name), kind)
        g = tm.GenerationConfig()
        g.max_new_tokens = self.max_new_tokens
        g.min_new_tokens = self.min_new_tokens
        g.top_k = self.top_k
        g.top_p = float(self.top_p)
        g.min_p = float(self.min_p)
        g.temperature = float(self.temperature)
        g.repetition_penalty = float(self.repetition_penalty)
        g.ignore_eos = self.ignore_eos
        if self.random_seed is not None:
            check_type("GenerationConfig", "random_seed", self.random_seed, "int")
            if self.random_seed < 0:
                raise ValueError(f"GenerationConfig: random_seed must be >= 0, got {self.random_seed}")
            g.seed = self.random_seed
        words = list(stop_words)
        if self.stop_words is not None:
            if isinstance(self.stop_words, str) or not all(isinstance(w, str) for w in self.stop_words):
                raise TypeError(f"GenerationConfig: stop_words must be a list of str, got {self.stop_words!r}")
            words += list(self.stop_words)
        ids, strings = [], []
        for w in words:
            tid = token_id(w) if token_id else -1
            if tid >= 0:
                if tid not in ids:
                    ids.append(tid)
            elif w and w not in strings:
                strings.append(w)
        g.stop_token_ids = ids
        g.stop_strings = strings
        g.validate()
        return g


@dataclass
class TurbomindEngineConfig:
    """Engine options (lmdeploy's TurbomindEngineConfig); 0 means the model's value
    (quant_policy: -1 = the workspace's config.ini, as the CLI without --quant-policy)."""

    model_name: Optional[str] = None
    session_len: int = 0
    max_batch_size: int = 0
    cache_max_entry_count: float = 0.5
    cache_block_seq_len: int = 64
    max_prefill_token_num: int = 8192
    quant_policy: int = -1
    max_prefill_token_num_decoding: int = 512
    enable_prefix_caching: bool = False
    threads: int = 0
    tp: int = 1
    device: str = "cpu"

    def options(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "model_name"}


@dataclass
class Response:
    """One prompt's result from a pipeline."""

    text: str
    generate_token_len: int
    input_token_len: int
    finish_reason: Optional[str] = None
    token_ids: List[int] = field(default_factory=list)
    index: int = 0
    session_id: int = -1
