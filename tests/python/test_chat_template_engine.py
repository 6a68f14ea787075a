"""The engine uses the prompt its model's own chat template renders (issue 16).

- The prompt the engine encodes for a conversation (`Engine.render_chat`, the function
  api_server's /v1/chat/completions calls) equals Python jinja2 configured as transformers
  does (tools/gen_template_golden_jinja.py's environment) over the GGUF's own template.
- SmolLM2 answers through `lmdeploy chat` and `serve api_server` from its GGUF template.
- A template that raises -> 400 with its message; the server keeps serving.
- `--chat-template my.jinja` overrides the model's template.
- Qwen2.5-Coder-0.5B (ChatML with tools): skipped while this build cannot load qwen2.
"""
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

import test_api_server as api

# With the GGUF template's default system line, the 135M Q4_1 model answers "What is the
# capital of France?" in French (the registry's smollm2 template renders the same text, so it
# did before too); this wording it answers in English.
QUESTION = "Name the capital of France."
QWEN = os.path.expanduser("~/.cache/lmdeploy/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")


@pytest.fixture(scope="module")
def jinja2_env(tools_dir):
    sys.path.insert(0, str(tools_dir))
    gen = pytest.importorskip("gen_template_golden_jinja")
    return gen.make_env()


@pytest.fixture(scope="module")
def tm():
    return pytest.importorskip("lmdeploy._turbomind")


def gguf_template(path):
    gguf = pytest.importorskip("gguf")
    reader = gguf.GGUFReader(str(path))
    field = reader.fields["tokenizer.chat_template"]
    return bytes(field.parts[field.data[0]]).decode("utf-8")


CONVERSATIONS = [
    [{"role": "user", "content": QUESTION}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
     {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "2+2?"}],
]


def test_engine_prompt_equals_jinja2_over_the_gguf_template(tm, model_path, jinja2_env):
    engine = tm.Engine(str(model_path), tm.EngineConfig())
    assert engine.chat_template_kind == "jinja"
    assert "<|im_end|>" in engine.chat_stop_words
    assert engine.chat_add_bos is False  # the template's text is encoded as is, as transformers does
    template = jinja2_env.from_string(gguf_template(model_path))
    for messages in CONVERSATIONS:
        expected = template.render(messages=messages, add_generation_prompt=True, bos_token="<|im_start|>",
                                   eos_token="<|im_end|>")
        assert engine.render_chat(messages) == expected
        # SmolLM2's own template renders what the seed's smollm2 registry entry did.
        assert engine.render_chat(messages) == tm.get_template("smollm2").messages2prompt(messages)


def test_pipeline_encodes_the_rendered_prompt(tm, model_path, jinja2_env):
    import lmdeploy
    pipe = lmdeploy.pipeline(str(model_path), session_len=1024, cache_max_entry_count=64)
    template = jinja2_env.from_string(gguf_template(model_path))
    messages = [{"role": "user", "content": QUESTION}]
    expected = template.render(messages=messages, add_generation_prompt=True, bos_token="<|im_start|>",
                               eos_token="<|im_end|>")
    single, ids, streams = pipe._submit(messages, None, True, {"max_new_tokens": 1})
    for s in streams:
        while s.next() is not None:
            pass
    assert ids == [pipe.tokenizer.encode(expected, add_bos=False)]
    r = pipe(messages, max_new_tokens=24, temperature=0.0)
    assert "Paris" in r.text


def test_chat_answers_from_the_gguf_template(lmd_binary, model_path):
    p = subprocess.run([str(lmd_binary), "chat", str(model_path), "--temperature", "0", "--max_new_tokens", "24",
                        "--session-len", "1024", "--log-level", "info", "--prompt", QUESTION],
                       capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stderr
    assert "(jinja)" in p.stderr and "chat template" in p.stderr, p.stderr
    assert "Paris" in p.stdout, p.stdout


def test_chat_multi_turn_sends_only_the_suffix(lmd_binary, model_path):
    p = subprocess.run([str(lmd_binary), "chat", str(model_path), "--temperature", "0", "--max_new_tokens", "24",
                        "--session-len", "1024"],
                       input="Hi, I am Bob.\n\nWhat is my name?\n\nexit\n", capture_output=True, text=True,
                       timeout=240)
    assert p.returncode == 0, p.stderr
    turns = p.stdout.split("double enter to end input >>> ")[1:]
    assert len(turns) == 3, p.stdout
    # Turn 2 submits only the text after what the KV holds: turn 1's answer and, when a stop
    # token ended it, its <|im_end|> (a 24-token cut leaves the <|im_end|> to submit).
    suffix = "\n<|im_start|>user\nWhat is my name?<|im_end|>\n<|im_start|>assistant\n"
    assert turns[1].startswith(suffix) or turns[1].startswith("<|im_end|>" + suffix), turns[1]
    assert "SmolLM" not in turns[1]
    assert "Bob" in turns[1].split("<|im_start|>assistant\n", 1)[1], p.stdout


def test_chat_template_flag_overrides_the_model_template(lmd_binary, model_path, tmp_path):
    mine = tmp_path / "my.jinja"
    mine.write_text("{% for m in messages %}<|im_start|>{{ m.role }}\n[MINE] {{ m.content }}<|im_end|>\n"
                    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    p = subprocess.run([str(lmd_binary), "chat", str(model_path), "--temperature", "0", "--max_new_tokens", "4",
                        "--session-len", "1024", "--chat-template", str(mine)],
                       input="Hello\n\nexit\n", capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stderr
    assert "<|im_start|>user\n[MINE] Hello<|im_end|>\n<|im_start|>assistant\n" in p.stdout, p.stdout
    assert "SmolLM" not in p.stdout  # the GGUF template's default system line is gone


def _post(base, body):
    req = urllib.request.Request(base + "/v1/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _start_server(lmd_binary, model_path, *flags):
    port = api._free_port()
    proc = subprocess.Popen([str(lmd_binary), "serve", "api_server", str(model_path), "--server_name", "127.0.0.1",
                             "--server_port", str(port), "--session-len", "1024", "--cache-max-entry-count", "64",
                             *flags],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        try:
            with urllib.request.urlopen(base + "/health", timeout=1):
                break
        except OSError:
            assert time.time() < deadline, "api_server did not start"
            time.sleep(0.2)
    return proc, base


def _stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def raising_server(lmd_binary, model_path, tmp_path_factory):
    """api_server with a template that refuses system messages (as some real ones do)."""
    tpl = tmp_path_factory.mktemp("tpl") / "nosys.jinja"
    tpl.write_text("{% for m in messages %}{% if m.role == 'system' %}"
                   "{{ raise_exception('System role not supported') }}{% endif %}"
                   "<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
                   "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    proc, base = _start_server(lmd_binary, model_path, "--chat-template", str(tpl))
    yield base
    _stop(proc)


@pytest.fixture(scope="module")
def api_server_base(lmd_binary, model_path):
    proc, base = _start_server(lmd_binary, model_path)
    yield base
    _stop(proc)


def test_template_error_is_400_and_the_server_keeps_serving(raising_server):
    status, body = _post(raising_server, {"messages": [{"role": "system", "content": "x"},
                                                      {"role": "user", "content": "hi"}]})
    assert status == 400, body
    assert "System role not supported" in body["error"]["message"]
    status, body = _post(raising_server, {"messages": [{"role": "user", "content": QUESTION}],
                                          "temperature": 0, "max_tokens": 24})
    assert status == 200, body
    assert "Paris" in body["choices"][0]["message"]["content"]


def test_api_server_answers_from_the_gguf_template(api_server_base):
    import openai
    client = openai.OpenAI(base_url=api_server_base + "/v1", api_key="none")
    r = client.chat.completions.create(model=client.models.list().data[0].id,
                                       messages=[{"role": "user", "content": QUESTION}],
                                       temperature=0, max_tokens=24)
    assert "Paris" in r.choices[0].message.content
    assert r.choices[0].finish_reason == "stop"  # stopped at <|im_end|>, not by the length


@pytest.mark.skipif(os.environ.get("LMD_SLOW_TESTS") != "1",
                    reason="minutes on the real Qwen2.5 file: set LMD_SLOW_TESTS=1")
def test_qwen_coder_answers_from_its_template(lmd_binary, tm, jinja2_env):
    if not os.path.exists(QWEN):
        pytest.skip(f"{QWEN} is not fetched (tools/fetch_model.sh qwen2.5-coder-0.5b on branch qwen)")
    try:
        engine = tm.Engine(QWEN, tm.EngineConfig())
    except Exception as e:  # noqa: BLE001 - the reason is the skip message
        pytest.skip(f"this build cannot load qwen2 yet: {e}")
    template = jinja2_env.from_string(gguf_template(QWEN))
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                                                "parameters": {"type": "object",
                                                               "properties": {"city": {"type": "string"}}}}}]
    messages = [{"role": "user", "content": QUESTION}]
    assert engine.render_chat(messages, tools) == template.render(messages=messages, tools=tools,
                                                                  add_generation_prompt=True)
    p = subprocess.run([str(lmd_binary), "chat", QWEN, "--temperature", "0", "--max_new_tokens", "24",
                        "--session-len", "1024", "--prompt", QUESTION], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    assert "Paris" in p.stdout, p.stdout
