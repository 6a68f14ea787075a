"""`lmdeploy.pipeline(path)(prompts, gen_config)`: newer lmdeploy's batch API.

Every prompt goes through the chat template (a str is one user message, a list of
{'role', 'content'} dicts is a conversation) and is submitted at once; the engine batches
them (persistent batching), so the answers come back together, each equal to what it would
be alone (greedy, or the same random_seed).
"""

from typing import Iterator, List, Optional, Union

from . import _turbomind as _tm
from .messages import GenerationConfig, Response, TurbomindEngineConfig
from .turbomind import TurboMind, engine_error

Prompt = Union[str, List[dict]]


def _is_conversation(p) -> bool:
    return isinstance(p, list) and len(p) > 0 and all(isinstance(m, dict) for m in p)


class Pipeline:
    def __init__(self, model_path=None, model_name: Optional[str] = None,
                 backend_config: Optional[TurbomindEngineConfig] = None, chat_template: Optional[str] = None,
                 **engine_options):
        if backend_config is not None:
            if not isinstance(backend_config, TurbomindEngineConfig):
                raise TypeError("backend_config must be a lmdeploy.TurbomindEngineConfig, got "
                                f"{type(backend_config).__name__}")
            engine_options = {**backend_config.options(), **engine_options}
            model_name = model_name or backend_config.model_name
        self.tm_model = TurboMind(model_path, model_name=model_name, chat_template=chat_template,
                                  **engine_options)
        self.tokenizer = self.tm_model.tokenizer
        self.chat_template = self.tm_model.model

    def _prompts(self, prompts, do_preprocess: bool):
        single = isinstance(prompts, str) or _is_conversation(prompts)
        items = [prompts] if single else prompts
        if not isinstance(items, (list, tuple)):
            raise TypeError(f"prompts must be a str, a list of str or of message lists, got {type(prompts).__name__}")
        texts = []
        for i, p in enumerate(items):
            if isinstance(p, str):
                texts.append(self._render([{"role": "user", "content": p}]) if do_preprocess else (p, True))
            elif _is_conversation(p):
                texts.append(self._render(p))
            else:
                raise TypeError(f"prompts[{i}] must be a str or a list of {{'role', 'content'}} dicts, "
                                f"got {type(p).__name__}")
        return single, texts

    def _render(self, messages):
        """(prompt, add_bos): the engine's chat template over the messages (as api_server)."""
        engine = self.tm_model.engine
        return engine.render_chat(messages), engine.chat_add_bos

    def _gen_config(self, gen_config, kwargs):
        if gen_config is None:
            gen_config = GenerationConfig(**kwargs)
        elif kwargs:
            raise TypeError(f"give either gen_config or generation keywords, not both: {sorted(kwargs)}")
        if not isinstance(gen_config, GenerationConfig):
            raise TypeError(f"gen_config must be a lmdeploy.GenerationConfig, got {type(gen_config).__name__}")
        return gen_config.to_engine(_tm, self.tm_model.engine.chat_stop_words, self.tm_model.engine.token_id)

    def _submit(self, prompts, gen_config, do_preprocess, kwargs):
        single, texts = self._prompts(prompts, do_preprocess)
        cfg = self._gen_config(gen_config, kwargs)
        ids = [self.tokenizer.encode(t, add_bos=add_bos) for t, add_bos in texts]
        engine = self.tm_model.engine
        return single, ids, [engine.submit(-1, x, cfg, True, True) for x in ids]

    def __call__(self, prompts: Union[Prompt, List[Prompt]], gen_config: Optional[GenerationConfig] = None,
                 do_preprocess: bool = True, **gen_kwargs) -> Union[Response, List[Response]]:
        """Answers one prompt (-> Response) or a list (-> list of Response, in order)."""
        single, ids, streams = self._submit(prompts, gen_config, do_preprocess, gen_kwargs)
        try:
            out = []
            for i, (x, s) in enumerate(zip(ids, streams)):
                r = Response(text="", generate_token_len=0, input_token_len=len(x), index=i)
                while (c := s.next()) is not None:
                    if c.finish_reason == "error":
                        raise engine_error(c.error)
                    r.text += c.text
                    r.token_ids.extend(c.token_ids)
                    r.generate_token_len = c.completion_tokens
                    if c.finish_reason:
                        r.finish_reason = c.finish_reason
                out.append(r)
        finally:
            for s in streams:
                s.close()
        return out[0] if single else out

    batch_infer = __call__

    def stream_infer(self, prompts: Union[Prompt, List[Prompt]], gen_config: Optional[GenerationConfig] = None,
                     do_preprocess: bool = True, **gen_kwargs) -> Iterator[Response]:
        """Yields a Response per output chunk (text / token_ids are that chunk's; `index` says
        which prompt), taking the prompts in turn."""
        _, ids, streams = self._submit(prompts, gen_config, do_preprocess, gen_kwargs)
        try:
            live = set(range(len(streams)))
            while live:
                for i in sorted(live):
                    c = streams[i].next()
                    if c is None:
                        live.discard(i)
                        continue
                    if c.finish_reason == "error":
                        raise engine_error(c.error)
                    yield Response(text=c.text, generate_token_len=c.completion_tokens, input_token_len=len(ids[i]),
                                   finish_reason=c.finish_reason or None, token_ids=list(c.token_ids), index=i)
                    if c.finish_reason:
                        live.discard(i)
        finally:
            for s in streams:
                s.close()

    def stats(self):
        return self.tm_model.stats()


def pipeline(model_path=None, model_name: Optional[str] = None,
             backend_config: Optional[TurbomindEngineConfig] = None, **engine_options) -> Pipeline:
    """A Pipeline over a workspace, Hugging Face directory or .gguf (None: the default SmolLM2)."""
    return Pipeline(model_path, model_name=model_name, backend_config=backend_config, **engine_options)
