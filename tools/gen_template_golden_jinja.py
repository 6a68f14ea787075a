#!/usr/bin/env python3
"""Golden data for the in-project Jinja interpreter (src/template/jinja), rendered by Python
jinja2 configured exactly as Hugging Face transformers configures it for chat templates:

  ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                extensions=[<generation tag>, jinja2.ext.loopcontrols])
  filters["tojson"]  = json.dumps(x, ensure_ascii=False, indent=, separators=, sort_keys=)
  globals["raise_exception"] raises jinja2.TemplateError(message)
  globals["strftime_now"](fmt) formats a FIXED instant (NOW_EPOCH_SECONDS, UTC) so goldens
  do not depend on the clock; the C++ side sets JinjaOptions::now_epoch_seconds to the same.

Writes
  tests/data/templates/golden.jsonl    every tests/data/templates/*.jinja x every conversation
                                       of conversations.json x add_generation_prompt in (true, false)
  tests/data/templates/snippets.jsonl  every case of snippets.txt (semantics one-liners) rendered
                                       with SNIPPET_CONTEXT
Each line holds the full context used and either "output" or "error" (jinja2 raised).

usage: tools/gen_template_golden_jinja.py            (regenerates both files)
Also imported by tests/python/test_template_render.py (make_env, template_context, ...).
"""
import datetime
import glob
import json
import os

import jinja2
import jinja2.ext
from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data", "templates")
NOW_EPOCH_SECONDS = 1721995200  # 2024-07-26 12:00:00 UTC

# bos / eos per template, as the model's special_tokens_map passes them (absent = not set).
SPECIAL_TOKENS = {
    "smollm2.jinja": {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>"},
    "chatml.jinja": {"eos_token": "<|im_end|>"},
    "internlm2-chat.jinja": {"bos_token": "<s>", "eos_token": "</s>"},
    "mixtral.jinja": {"bos_token": "<s>", "eos_token": "</s>"},
    "mistral-v0.3.jinja": {"bos_token": "<s>", "eos_token": "</s>"},
    "phi-3.jinja": {"bos_token": "<s>", "eos_token": "<|endoftext|>"},
    "zephyr.jinja": {"bos_token": "<s>", "eos_token": "</s>"},
    "llama-2.jinja": {"bos_token": "<s>", "eos_token": "</s>"},
    "gemma-3.jinja": {"bos_token": "<bos>", "eos_token": "<eos>"},
    "deepseek-r1-distill.jinja": {"bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>"},
    "qwen2.5.jinja": {"eos_token": "<|im_end|>"},
    "qwen2.5-coder.jinja": {"eos_token": "<|im_end|>"},
    "qwen3.jinja": {"eos_token": "<|im_end|>"},
    "llama-3.1.jinja": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "llama-3.2.jinja": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
}

SNIPPET_CONTEXT = {
    "msgs": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}],
    "d": {"b": 1, "a": [1, 2]}, "s": "héllo wörld", "n": 5, "f": 2.5, "none_v": None, "t": True,
    "lst": [3, 1, 2], "strs": ["b", "A", "a"], "empty": [], "es": "",
}


class GenerationTag(Extension):
    """transformers' {% generation %} ... {% endgeneration %} (renders its body)."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def make_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        now = datetime.datetime.fromtimestamp(NOW_EPOCH_SECONDS, datetime.timezone.utc).replace(tzinfo=None)
        return now.strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[GenerationTag, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render(template_text, context):
    """{"output": text} or {"error": "<ExceptionType>: message"}."""
    try:
        return {"output": make_env().from_string(template_text).render(**context)}
    except Exception as e:  # the golden records that jinja2 refused; the C++ side must refuse too
        return {"error": f"{type(e).__name__}: {e}"}


def template_files():
    return sorted(glob.glob(os.path.join(DATA, "*.jinja")))


def conversations():
    with open(os.path.join(DATA, "conversations.json"), encoding="utf-8") as f:
        return json.load(f)["conversations"]


def template_context(template_name, conversation, add_generation_prompt):
    ctx = {"messages": conversation["messages"]}
    if "tools" in conversation:
        ctx["tools"] = conversation["tools"]
    ctx["add_generation_prompt"] = add_generation_prompt
    ctx.update(SPECIAL_TOKENS.get(template_name, {}))
    return ctx


def snippets():
    with open(os.path.join(DATA, "snippets.txt"), encoding="utf-8") as f:
        return [c for c in f.read().split("\n====\n") if c.strip()]


def header(what):
    return {"generated_by": "tools/gen_template_golden_jinja.py",
            "oracle": f"jinja2 {jinja2.__version__} ImmutableSandboxedEnvironment as transformers configures it",
            "now_epoch_seconds": NOW_EPOCH_SECONDS, "content": what}


def main():
    golden = os.path.join(DATA, "golden.jsonl")
    with open(golden, "w", encoding="utf-8") as out:
        out.write(json.dumps(header("templates x conversations")) + "\n")
        n = 0
        for path in template_files():
            name = os.path.basename(path)
            with open(path, encoding="utf-8") as f:
                text = f.read()
            for conv in conversations():
                for agp in (True, False):
                    ctx = template_context(name, conv, agp)
                    row = {"template": name, "conversation": conv["name"], "context": ctx}
                    row.update(render(text, ctx))
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
                    n += 1
    snip = os.path.join(DATA, "snippets.jsonl")
    with open(snip, "w", encoding="utf-8") as out:
        out.write(json.dumps(header("snippets.txt cases with SNIPPET_CONTEXT")) + "\n")
        for case in snippets():
            row = {"template": case, "context": SNIPPET_CONTEXT}
            row.update(render(case, SNIPPET_CONTEXT))
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {golden} ({n} rows) and {snip}")


if __name__ == "__main__":
    main()
