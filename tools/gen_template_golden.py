#!/usr/bin/env python3
"""Renders conversations with the Jinja chat template stored in the SmolLM2 GGUF (the
oracle: the model author's own template, rendered by jinja2 as HF transformers does) and
writes tests/data/template/smollm2_jinja.jsonl for tests/unit/template/chat_template_test.cc.

usage: tools/gen_template_golden.py [GGUF]   (default: the cached SmolLM2 GGUF)
"""
import json
import os
import sys

import gguf
import jinja2

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def default_model():
    d = os.environ.get("LMDEPLOY_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "lmdeploy")
    return os.path.join(d, "SmolLM2-135M-Instruct.Q4_1.gguf")


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else default_model()
    reader = gguf.GGUFReader(path)
    field = reader.fields["tokenizer.chat_template"]
    template_text = bytes(field.parts[field.data[0]]).decode("utf-8")
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    template = env.from_string(template_text)
    conversations = [
        [{"role": "user", "content": "What is the capital of France?"}],
        [{"role": "system", "content": "You are a pirate."}, {"role": "user", "content": "Hi!"}],
        [{"role": "user", "content": "My name is Ada."}, {"role": "assistant", "content": "Hello Ada."},
         {"role": "user", "content": "What is my name?"}],
        [{"role": "user", "content": "多行\n输入\n\n测试"}],
        [{"role": "system", "content": ""}, {"role": "user", "content": "  spaces  "},
         {"role": "assistant", "content": "ok"}, {"role": "user", "content": "again"}],
    ]
    out_path = os.path.join(ROOT, "tests", "data", "template", "smollm2_jinja.jsonl")
    with open(out_path, "w", encoding="utf-8") as out:
        out.write(json.dumps({"generated_by": "tools/gen_template_golden.py",
                              "oracle": f"jinja2 {jinja2.__version__} rendering tokenizer.chat_template of "
                                        f"{os.path.basename(path)}"}) + "\n")
        for messages in conversations:
            prompt = template.render(messages=messages, add_generation_prompt=True)
            out.write(json.dumps({"messages": messages, "prompt": prompt}, ensure_ascii=False) + "\n")
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
