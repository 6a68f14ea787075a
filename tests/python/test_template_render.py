"""`lmdeploy template render` against live Python jinja2 configured as transformers does
(tools/gen_template_golden_jinja.py: make_env): every tests/data/templates/*.jinja x every
conversation x add_generation_prompt, byte for byte; where jinja2 raises, the CLI must fail
with one `error: ...` line and exit 1. Also the template sources: .gguf, HF directory
(tokenizer_config.json string / list of named templates, chat_template.jinja)."""
import json
import os
import subprocess

import pytest

import gen_template_golden_jinja as oracle


def run_cli(lmd_binary, template, context, tmp_path, add_generation_prompt):
    ctx = dict(context)
    special = {k: ctx.pop(k) for k in ("bos_token", "eos_token") if k in ctx}
    ctx.pop("add_generation_prompt", None)
    messages_file = tmp_path / "messages.json"
    messages_file.write_text(json.dumps(ctx, ensure_ascii=False), encoding="utf-8")
    args = [str(lmd_binary), "template", "render", "--template", str(template), "--messages", str(messages_file),
            "--now-epoch-seconds", str(oracle.NOW_EPOCH_SECONDS)]
    if add_generation_prompt:
        args.append("--add-generation-prompt")
    if "bos_token" in special:
        args += ["--bos-token", special["bos_token"]]
    if "eos_token" in special:
        args += ["--eos-token", special["eos_token"]]
    return subprocess.run(args, capture_output=True)


def check(proc, expected):
    if "output" in expected:
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")
        assert proc.stdout.decode("utf-8") == expected["output"]
    else:
        assert proc.returncode == 1, f"jinja2 raised {expected['error']} but the CLI printed {proc.stdout[:200]!r}"
        err = proc.stderr.decode("utf-8")
        assert err.startswith("error: ") and err.count("\n") == 1, err


@pytest.mark.parametrize("template", [os.path.basename(p) for p in oracle.template_files()])
def test_corpus_template_matches_jinja2(lmd_binary, template, tmp_path):
    path = os.path.join(oracle.DATA, template)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    pairs = 0
    for conv in oracle.conversations():
        for agp in (True, False):
            ctx = oracle.template_context(template, conv, agp)
            check(run_cli(lmd_binary, path, ctx, tmp_path, agp), oracle.render(text, ctx))
            pairs += 1
    assert pairs == 2 * len(oracle.conversations())


def test_raise_exception_message_reaches_the_user(lmd_binary, tmp_path):
    path = os.path.join(oracle.DATA, "mixtral.jinja")
    ctx = {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]}
    proc = run_cli(lmd_binary, path, ctx, tmp_path, True)
    assert proc.returncode == 1
    assert "Conversation roles must alternate user/assistant/user/assistant/..." in proc.stderr.decode()


def test_gguf_template_source(lmd_binary, model_path, tmp_path):
    import gguf
    reader = gguf.GGUFReader(str(model_path))
    field = reader.fields["tokenizer.chat_template"]
    text = bytes(field.parts[field.data[0]]).decode("utf-8")
    ctx = {"messages": [{"role": "user", "content": "Hello!"}]}
    expected = oracle.render(text, dict(ctx, add_generation_prompt=True))
    check(run_cli(lmd_binary, model_path, ctx, tmp_path, True), expected)


@pytest.mark.parametrize("layout", ["config_string", "config_list", "jinja_file"])
def test_hf_directory_template_source(lmd_binary, tmp_path, layout):
    model = tmp_path / "model"
    model.mkdir()
    text = "{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}{{ layout }}"
    if layout == "config_string":
        (model / "tokenizer_config.json").write_text(json.dumps({"chat_template": text}))
    elif layout == "config_list":
        (model / "tokenizer_config.json").write_text(json.dumps({"chat_template": [
            {"name": "tool_use", "template": "wrong"}, {"name": "default", "template": text}]}))
    else:
        (model / "tokenizer_config.json").write_text(json.dumps({"eos_token": "</s>"}))
        (model / "chat_template.jinja").write_text(text)
    ctx = {"messages": [{"role": "user", "content": "hi"}], "layout": layout}
    check(run_cli(lmd_binary, model, ctx, tmp_path, False), oracle.render(text, dict(ctx, add_generation_prompt=False)))


def test_messages_as_plain_list_and_separate_tools(lmd_binary, tmp_path):
    path = os.path.join(oracle.DATA, "qwen2.5.jinja")
    conv = next(c for c in oracle.conversations() if c["name"] == "tool_call_dict_args")
    (tmp_path / "m.json").write_text(json.dumps(conv["messages"]))
    (tmp_path / "t.json").write_text(json.dumps(conv["tools"]))
    proc = subprocess.run([str(lmd_binary), "template", "render", "--template", path, "--messages",
                           str(tmp_path / "m.json"), "--tools", str(tmp_path / "t.json"), "--add-generation-prompt"],
                          capture_output=True)
    with open(path, encoding="utf-8") as f:
        expected = oracle.render(f.read(), {"messages": conv["messages"], "tools": conv["tools"],
                                            "add_generation_prompt": True})
    check(proc, expected)
