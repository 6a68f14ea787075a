"""The api_server against the official `openai` client (pinned in tools/setup.sh) and raw HTTP,
on the real SmolLM2 model. One server for the module; small max_tokens keep it quick.

What it shows (issue "Serving"): models.list; chat non-streamed and streamed; completions;
multi-token stop strings; n=2; logprobs; max_tokens -> finish_reason length; same seed, same
text; usage counts; /v1/chat/interactive prefills only the new turn (a counter in /metrics);
/v1/encode; 64 concurrent streaming clients == one by one (greedy); a client that disconnects
mid-stream frees its KV blocks (the metric returns to idle).
"""

import http.client
import json
import socket
import subprocess
import threading
import time
import urllib.request

import pytest

import openai


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(lmd_binary, model_path):
    port = _free_port()
    # A small KV pool (256 blocks x 64 tokens) and session: enough for 64 short streams.
    proc = subprocess.Popen(
        [str(lmd_binary), "serve", "api_server", str(model_path), "--server_name", "127.0.0.1",
         "--server_port", str(port), "--instance_num", "64", "--session-len", "2048",
         "--cache-max-entry-count", "256"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        if proc.poll() is not None:
            pytest.fail(f"api_server exited with {proc.returncode}:\n{proc.stdout.read()[-3000:]}",
                        pytrace=False)
        try:
            with urllib.request.urlopen(base + "/health", timeout=1) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if time.time() > deadline:
            proc.kill()
            pytest.fail("api_server did not answer /health within 120 s", pytrace=False)
        time.sleep(0.2)
    yield base
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server + "/v1", api_key="unused", max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def model(client):
    return client.models.list().data[0].id


def post(base, path, body):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return r.read().decode()


def metrics(base):
    with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def ask(client, model, question, **kw):
    kw.setdefault("temperature", 0)
    kw.setdefault("max_tokens", 12)
    return client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": question}], **kw)


def test_models_list(client, model):
    models = client.models.list().data
    assert len(models) == 1
    assert models[0].id == model == "smollm2"


def test_chat_non_streamed_and_streamed_agree(client, model):
    r = ask(client, model, "What is the capital of France?")
    text = r.choices[0].message.content
    assert r.choices[0].message.role == "assistant"
    assert text.strip()
    stream = ask(client, model, "What is the capital of France?", stream=True,
                 stream_options={"include_usage": True})
    pieces, finish, usage = [], None, None
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for c in chunk.choices:
            if c.delta.content:
                pieces.append(c.delta.content)
            finish = c.finish_reason or finish
    assert "".join(pieces) == text
    assert len(pieces) > 1  # really streamed, not one blob
    assert finish == r.choices[0].finish_reason
    assert usage.completion_tokens == r.usage.completion_tokens


def test_usage_counts(server, client, model):
    r = ask(client, model, "Name a colour.", max_tokens=5)
    assert r.choices[0].finish_reason == "length"  # max_tokens reached
    assert r.usage.completion_tokens == 5
    # The prompt as the chat template renders one user turn, tokenized by the server.
    enc = json.loads(post(server, "/v1/encode", {"input": "Name a colour.", "do_preprocess": True}))
    assert r.usage.prompt_tokens == enc["length"]
    assert r.usage.total_tokens == r.usage.prompt_tokens + 5


def test_completions(client, model):
    r = client.completions.create(model=model, prompt="The sky is", max_tokens=6, temperature=0)
    assert r.object == "text_completion"
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 6
    echo = client.completions.create(model=model, prompt="The sky is", max_tokens=6, temperature=0,
                                     echo=True)
    assert echo.choices[0].text == "The sky is" + r.choices[0].text


def test_multi_token_stop_string(client, model):
    full = ask(client, model, "Write one sentence about cats.", max_tokens=24).choices[0].message.content
    words = full.split(" ")
    assert len(words) >= 5, full
    stop = " ".join(words[2:4])  # two words: several tokens
    assert len(stop) > 3
    r = ask(client, model, "Write one sentence about cats.", max_tokens=24, stop=[stop])
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].message.content == full[:full.index(stop)]
    # Streamed the same, with the stop string never leaking out.
    text = "".join(c.choices[0].delta.content or "" for c in
                   ask(client, model, "Write one sentence about cats.", max_tokens=24, stop=stop,
                       stream=True) if c.choices)
    assert text == full[:full.index(stop)]


def test_n_two(client, model):
    r = ask(client, model, "Tell me a word.", n=2, temperature=1.0, seed=5, max_tokens=8)
    assert [c.index for c in r.choices] == [0, 1]
    assert all(c.message.content for c in r.choices)
    # Usage sums both choices: each produced 1..8 tokens (8 exactly when cut by length).
    assert 2 <= r.usage.completion_tokens <= 16
    assert r.usage.completion_tokens >= 8 * sum(c.finish_reason == "length" for c in r.choices)


def test_logprobs(client, model):
    r = ask(client, model, "Say hi", max_tokens=6, logprobs=True, top_logprobs=3)
    content = r.choices[0].logprobs.content
    assert len(content) == r.usage.completion_tokens == 6
    assert "".join(t.token for t in content) == r.choices[0].message.content
    for t in content:
        assert t.logprob <= 0
        assert len(t.top_logprobs) == 3
        # Greedy: the chosen token is the most likely one.
        assert t.top_logprobs[0].token == t.token
        assert abs(t.top_logprobs[0].logprob - t.logprob) < 1e-5
        assert t.top_logprobs[0].logprob >= t.top_logprobs[1].logprob >= t.top_logprobs[2].logprob


def test_same_seed_same_text(client, model):
    kw = dict(temperature=1.0, top_p=1.0, max_tokens=16)
    a = ask(client, model, "Invent a name for a dog.", seed=1234, **kw).choices[0].message.content
    b = ask(client, model, "Invent a name for a dog.", seed=1234, **kw).choices[0].message.content
    assert a == b
    others = {ask(client, model, "Invent a name for a dog.", seed=s, **kw).choices[0].message.content
              for s in (1, 2, 3)}
    assert len(others | {a}) > 1  # the seed does change the sample


def test_bad_request_then_good(client, model):
    with pytest.raises(openai.BadRequestError) as e:
        ask(client, model, "hi", temperature=-1)
    assert "temperature" in str(e.value)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    assert ask(client, model, "hi", max_tokens=2).choices[0].message.content


def test_interactive_second_turn_prefills_only_new_tokens(server):
    sid = 4242
    first = json.loads(post(server, "/v1/chat/interactive",
                            {"prompt": "Hi, my name is Ann.", "session_id": sid, "interactive_mode": True,
                             "request_output_len": 8, "temperature": 0}))
    assert first["history_tokens"] == 0 and first["tokens"] > 0
    before = metrics(server)
    # Streamed second turn: newline-delimited JSON objects.
    body = post(server, "/v1/chat/interactive",
                {"prompt": "What is my name?", "session_id": sid, "interactive_mode": True,
                 "request_output_len": 8, "temperature": 0, "stream": True})
    lines = [json.loads(l) for l in body.splitlines() if l.strip()]
    assert lines[-1]["finish_reason"] in ("stop", "length")
    second_input = lines[-1]["input_tokens"]
    history = lines[-1]["history_tokens"]
    assert history >= first["input_tokens"] + first["tokens"]
    after = metrics(server)
    # The second turn prefills its own new tokens only (plus, at most, the first turn's last
    # sampled token, whose KV did not exist yet); the history's KV was reused.
    prefilled = after["lmdeploy_engine_prefill_tokens_total"] - before["lmdeploy_engine_prefill_tokens_total"]
    assert second_input <= prefilled <= second_input + 1, (prefilled, second_input, history)
    assert prefilled < history
    assert after["lmdeploy_session_reused_tokens_total"] - before["lmdeploy_session_reused_tokens_total"] \
        >= first["input_tokens"]
    # End the session.
    end = json.loads(post(server, "/v1/chat/interactive", {"prompt": "", "session_id": sid}))
    assert end["finish_reason"] == "stop"


def test_encode(server):
    one = json.loads(post(server, "/v1/encode", {"input": "hello world", "add_bos": False}))
    assert one["length"] == len(one["input_ids"]) >= 2
    many = json.loads(post(server, "/v1/encode", {"input": ["hello world", "hi"], "add_bos": False}))
    assert many["input_ids"][0] == one["input_ids"]
    assert many["length"] == [len(x) for x in many["input_ids"]]


def _stream_chat(server, question, max_tokens):
    conn = http.client.HTTPConnection(server.split("//")[1], timeout=300)
    conn.request("POST", "/v1/chat/completions", json.dumps(
        {"messages": [{"role": "user", "content": question}], "temperature": 0, "max_tokens": max_tokens,
         "stream": True}), {"Content-Type": "application/json"})
    resp = conn.getresponse()
    assert resp.status == 200
    text, done = [], False
    for raw in resp:
        line = raw.decode().strip()
        if not line.startswith("data: "):
            continue
        payload = line[6:]
        if payload == "[DONE]":
            done = True
            break
        chunk = json.loads(payload)
        if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
            text.append(chunk["choices"][0]["delta"]["content"])
    conn.close()
    assert done
    return "".join(text)


def test_64_concurrent_streams_equal_sequential(server):
    questions = [f"Count from {i} to {i + 3}." for i in range(8)]
    expected = {q: _stream_chat(server, q, 8) for q in questions}
    results = [None] * 64
    errors = []

    def worker(i):
        try:
            results[i] = _stream_chat(server, questions[i % 8], 8)
        except Exception as e:  # reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not errors, errors[:3]
    for i, got in enumerate(results):
        assert got == expected[questions[i % 8]], f"client {i}"


def test_disconnect_mid_stream_frees_kv(server):
    idle = metrics(server)["lmdeploy_kv_blocks_active"]
    conn = http.client.HTTPConnection(server.split("//")[1], timeout=60)
    conn.request("POST", "/v1/chat/completions", json.dumps(
        {"messages": "Write a very long story about the sea.", "max_tokens": 1500, "ignore_eos": True,
         "stream": True}), {"Content-Type": "application/json"})
    resp = conn.getresponse()
    events = 0
    for raw in resp:
        if raw.startswith(b"data: "):
            events += 1
        if events >= 5:
            break
    busy = metrics(server)
    assert busy["lmdeploy_kv_blocks_active"] > idle
    conn.sock.shutdown(socket.SHUT_RDWR)
    conn.close()
    deadline = time.time() + 30
    while time.time() < deadline:
        m = metrics(server)
        if m["lmdeploy_kv_blocks_active"] == idle and m["lmdeploy_http_requests_in_flight"] == 0:
            break
        time.sleep(0.1)
    m = metrics(server)
    assert m["lmdeploy_kv_blocks_active"] == idle
    assert m["lmdeploy_http_requests_in_flight"] == 0
    assert m["lmdeploy_num_requests_running"] == 0
