"""The Python API (`from lmdeploy import turbomind as tm`, `lmdeploy.pipeline`) over the C++ engine.

Runs against the package assembled in the CMake build tree (configure with
-DLMDEPLOY_PYTHON=ON; <build>/python/lmdeploy holds the .py files and _turbomind*.so), found
from env LMD_PYTHON_DIR, else next to $LMD_BINARY (<build>/bin/lmdeploy -> <build>/python).
Oracles: the same engine one request at a time, `lmdeploy chat --prompt` (the CLI), and the
engine's own counters (prefill_tokens, session_reused_tokens, kv_blocks_*).
"""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

SEED_EXAMPLE = "docs/example_python/seed_2_5.py"
# 16 short questions for batching; greedy answers of 24 tokens.
QUESTIONS = [
    "What is the capital of France?", "Name a primary color.", "What is 2 plus 2?",
    "Say hello in Spanish.", "What do bees make?", "Name a planet.", "What is water made of?",
    "Give me a fruit.", "How many days are in a week?", "What color is the sky?",
    "Name an animal that barks.", "What is the opposite of hot?", "Write one word about the sea.",
    "What do cows drink?", "Name a musical instrument.", "What is the sun?",
]
MAX_NEW = 24


def _python_dir(lmd_binary):
    env = os.environ.get("LMD_PYTHON_DIR")
    return Path(env) if env else Path(lmd_binary).resolve().parent.parent / "python"


@pytest.fixture(scope="module")
def python_dir(lmd_binary):
    d = _python_dir(lmd_binary)
    if not list((d / "lmdeploy").glob("_turbomind*.so")):
        pytest.fail(f"no lmdeploy._turbomind in {d / 'lmdeploy'}: configure the build with "
                    "-DLMDEPLOY_PYTHON=ON (needs `pip install pybind11==3.0.1`) and build the target "
                    "_turbomind, or set LMD_PYTHON_DIR", pytrace=False)
    return d


@pytest.fixture(scope="module")
def lmdeploy(python_dir):
    sys.path.insert(0, str(python_dir))
    import lmdeploy as module
    assert Path(module.__file__).resolve().parent == (python_dir / "lmdeploy").resolve(), \
        f"imported {module.__file__}, not the build tree's package"
    return module


@pytest.fixture(scope="module")
def tm(lmdeploy):
    from lmdeploy import turbomind
    return turbomind


@pytest.fixture(scope="module")
def tm_model(tm, model_path):
    return tm.TurboMind.from_pretrained(str(model_path), model_name="smollm2", session_len=2048,
                                        max_batch_size=4, cache_max_entry_count=64)


def _wait_idle(tm_model, until=None, timeout=10.0):
    """Stats once the engine has no request left and `until(stats)` holds (cancellation and
    end_session land at the engine's next step boundary); the last stats after `timeout`."""
    deadline = time.time() + timeout
    while True:
        s = tm_model.stats()
        if (s.running == 0 and s.waiting == 0 and (until is None or until(s))) or time.time() > deadline:
            return s
        time.sleep(0.02)


def _run(generator, session_id, ids, **kw):
    res = None
    for outputs in generator.stream_infer(session_id=session_id, input_ids=[ids], **kw):
        res, n = outputs[0]
        assert n == len(res)
    return res.tolist()


def test_seed_example_runs(python_dir, model_path, repo_root, tmp_path):
    """The seed's section 2.5 program, only its model path and model_name changed."""
    src = (repo_root / SEED_EXAMPLE).read_text()
    assert "model_name='smollm2'" in src and "input_ids=[input_ids]" in src
    script = tmp_path / "seed_2_5.py"
    script.write_text(src.replace("~/.cache/lmdeploy/SmolLM2-135M-Instruct.Q4_1.gguf", str(model_path)))
    env = {**os.environ, "PYTHONPATH": str(python_dir)}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    answer = proc.stdout.strip()
    assert len(answer) >= 2, f"empty answer: {proc.stdout!r}"
    # The answer is model text: no template markup leaked, mostly printable.
    for marker in ("<|im_start|>", "<|im_end|>", "assistant\n"):
        assert marker not in answer
    assert sum(ch.isprintable() or ch.isspace() for ch in answer) == len(answer)


def test_tokenizer_and_template(tm_model):
    tok = tm_model.tokenizer
    ids = tok.encode("Hello world, 你好", add_bos=False)
    assert ids and all(isinstance(i, int) for i in ids)
    assert tok.decode(ids) == "Hello world, 你好"
    assert tok.decode(ids, offset=1) == tok.decode(ids[1:])
    first = tm_model.model.get_prompt("hi")
    later = tm_model.model.get_prompt("hi", sequence_start=False)
    assert first.endswith(later) and len(first) > len(later)
    assert "<|im_start|>user\nhi<|im_end|>" in later
    assert tm_model.model.messages2prompt([{"role": "user", "content": "hi"}]) == first
    assert "<|im_end|>" in tm_model.model.stop_words
    assert tm_model.model_name == "smollm2"


def test_multi_turn_session_keeps_kv(tm_model):
    """Turn 2 prefills only its new tokens (+ turn 1's last answer token, whose KV was never
    computed); its answer equals a fresh request over the whole conversation's tokens."""
    gen = tm_model.create_instance()
    tok, model = tm_model.tokenizer, tm_model.model
    greedy = dict(temperature=0.0, ignore_eos=True, request_output_len=8)
    p1 = tok.encode(model.get_prompt("Name three colors."), add_bos=True)
    s0 = tm_model.stats()
    a1 = _run(gen, 11, p1, sequence_start=True, sequence_end=False, **greedy)
    s1 = _wait_idle(tm_model)
    assert len(a1) == 8
    assert s1.prefill_tokens - s0.prefill_tokens == len(p1)
    assert s1.sessions == s0.sessions + 1 and s1.kv_blocks_cached > 0

    p2 = tok.encode(model.get_prompt("And three animals?", sequence_start=False), add_bos=False)
    a2 = _run(gen, 11, p2, sequence_start=False, sequence_end=False, **greedy)
    s2 = _wait_idle(tm_model)
    assert s2.prefill_tokens - s1.prefill_tokens == len(p2) + 1
    assert s2.session_reused_tokens - s1.session_reused_tokens == len(p1) + len(a1) - 1

    whole = _run(gen, 12, p1 + a1 + p2, sequence_start=True, sequence_end=True, **greedy)
    assert a2 == whole

    gen.end(11)
    s3 = _wait_idle(tm_model, until=lambda s: s.sessions == s0.sessions)
    assert s3.sessions == s0.sessions and s3.kv_blocks_active == 0


@pytest.fixture(scope="module")
def pipe(lmdeploy, model_path):
    return lmdeploy.pipeline(str(model_path), model_name="smollm2", session_len=2048, max_batch_size=16,
                             cache_max_entry_count=128)


def test_pipeline_batch_equals_one_by_one_and_cli(lmdeploy, pipe, lmd_binary, model_path):
    gc = lmdeploy.GenerationConfig(max_new_tokens=MAX_NEW, temperature=0.0)
    s0 = pipe.stats()
    batch = pipe(QUESTIONS, gc)
    s1 = pipe.stats()
    # The 16 requests really ran together: fewer engine steps than one after another.
    assert s1.steps - s0.steps < len(QUESTIONS) * MAX_NEW // 2
    assert [r.index for r in batch] == list(range(len(QUESTIONS)))
    for q, r in zip(QUESTIONS, batch):
        single = pipe(q, gc)
        assert isinstance(single, lmdeploy.Response)
        assert (r.text, r.token_ids, r.finish_reason) == (single.text, single.token_ids, single.finish_reason), q
        assert r.finish_reason in ("stop", "length") and r.text.strip()
        assert r.input_token_len == len(pipe.tokenizer.encode(pipe.chat_template.get_prompt(q)))
        assert r.generate_token_len >= len(r.token_ids) and r.generate_token_len <= MAX_NEW
        cli = subprocess.run([str(lmd_binary), "chat", str(model_path), "--temperature", "0",
                              "--max_new_tokens", str(MAX_NEW), "--session-len", "2048", "--prompt", q],
                             capture_output=True, text=True, timeout=300)
        assert cli.returncode == 0, cli.stderr[-2000:]
        assert cli.stdout == r.text + "\n", q


def test_pipeline_stream_and_messages(lmdeploy, pipe):
    gc = lmdeploy.GenerationConfig(max_new_tokens=12, temperature=0.0)
    whole = pipe(["Hi!", "Tell me a joke."], gc)
    parts = {0: "", 1: ""}
    for r in pipe.stream_infer(["Hi!", "Tell me a joke."], gc):
        parts[r.index] += r.text
    assert [parts[0], parts[1]] == [w.text for w in whole]
    conv = pipe([{"role": "user", "content": "Hi!"}], gc)
    assert conv.text == whole[0].text
    with pytest.raises(TypeError, match="prompts must be"):
        pipe(123, gc)
    with pytest.raises(TypeError, match=r"prompts\[1\] must be a str"):
        pipe(["ok", 5], gc)
    with pytest.raises(TypeError, match="gen_config must be a lmdeploy.GenerationConfig"):
        pipe("Hi!", {"max_new_tokens": 3})


def test_cancel_frees_kv(tm_model):
    """generator.cancel() from another thread stops a long request; no KV stays active, and
    end() returns every block of the session."""
    gen = tm_model.create_instance()
    ids = tm_model.tokenizer.encode(tm_model.model.get_prompt("Count to one thousand."))
    s0 = _wait_idle(tm_model)
    n = 0
    for outputs in gen.stream_infer(21, [ids], request_output_len=1500, ignore_eos=True, temperature=0.0):
        n = outputs[0][1]
        if n == 3:
            threading.Thread(target=gen.cancel, args=(21,)).start()
    assert 3 <= n < 1500
    s1 = _wait_idle(tm_model)
    assert s1.running == 0 and s1.kv_blocks_active == 0
    gen.end(21)
    s2 = _wait_idle(tm_model, until=lambda s: s.sessions == s0.sessions)
    assert s2.sessions == s0.sessions
    assert s2.kv_blocks_free + s2.kv_blocks_cached == s2.kv_blocks_total


def test_keyboard_interrupt_cancels_and_ends_session(tm_model):
    """Ctrl-C (SIGINT to this process) while stream_infer waits: KeyboardInterrupt, the
    request is cancelled and its session's KV freed."""
    assert threading.current_thread() is threading.main_thread()
    gen = tm_model.create_instance()
    ids = tm_model.tokenizer.encode(tm_model.model.get_prompt("Count to one thousand."))
    s0 = _wait_idle(tm_model)
    n = 0
    with pytest.raises(KeyboardInterrupt):
        for outputs in gen.stream_infer(31, [ids], request_output_len=1500, ignore_eos=True, temperature=0.0):
            n = outputs[0][1]
            if n == 2:
                threading.Timer(0.2, os.kill, args=(os.getpid(), signal.SIGINT)).start()
    assert n < 1500
    s1 = _wait_idle(tm_model, until=lambda s: s.sessions == s0.sessions)
    assert s1.running == 0 and s1.kv_blocks_active == 0
    assert s1.sessions == s0.sessions  # the session was ended, not kept
    assert s1.kv_blocks_free + s1.kv_blocks_cached == s1.kv_blocks_total


def test_gil_released_while_waiting(tm_model):
    """Another Python thread keeps running while stream_infer waits for the engine: were the
    GIL held during the wait, the main thread could only run between chunks (~1 tick each)."""
    gen = tm_model.create_instance()
    ids = tm_model.tokenizer.encode(tm_model.model.get_prompt("Hello"))
    done = threading.Event()
    ticks = 0
    n_tokens = 32

    def consume():
        _run(gen, 41, ids, request_output_len=n_tokens, ignore_eos=True, temperature=0.0, sequence_end=True)
        done.set()

    t = threading.Thread(target=consume)
    t.start()
    while not done.is_set():
        ticks += 1
        time.sleep(0.001)
    t.join()
    assert ticks > 3 * n_tokens


def test_bad_arguments(tm, lmdeploy, tm_model, model_path):
    with pytest.raises(FileNotFoundError, match="does-not-exist"):
        tm.TurboMind.from_pretrained("/tmp/does-not-exist.gguf")
    with pytest.raises(TypeError, match="unknown engine option 'sesion_len'"):
        tm.TurboMind.from_pretrained(str(model_path), sesion_len=10)
    with pytest.raises(TypeError, match="session_len must be int, got str"):
        tm.TurboMind.from_pretrained(str(model_path), session_len="2048")
    with pytest.raises(ValueError, match="unknown model_name 'nope'"):
        tm.TurboMind.from_pretrained(str(model_path), model_name="nope")
    with pytest.raises(ValueError, match="quant_policy"):  # the C++ message, as ValueError
        tm.TurboMind.from_pretrained(str(model_path), quant_policy=3)

    gen = tm_model.create_instance()
    ids = tm_model.tokenizer.encode("hi")
    vocab = tm_model.tokenizer.vocab_size
    cases = [
        (dict(input_ids=[ids], top_p=0.0), ValueError, "top_p"),
        (dict(input_ids=[ids], temperature=-1.0), ValueError, "temperature"),
        (dict(input_ids=[ids], temperature="hot"), TypeError, "temperature must be float"),
        (dict(input_ids=[ids], request_output_len=-1), ValueError, "max_new_tokens"),
        (dict(input_ids=[["a"]]), TypeError, r"input_ids\[0\] must be an int"),
        (dict(input_ids=[ids, ids]), ValueError, "holds 2 sequences"),
        (dict(input_ids=[[1, vocab]]), ValueError, rf"input_ids\[1\] = {vocab} is outside the vocabulary"),
        (dict(input_ids="hi"), TypeError, "input_ids must be a list"),
    ]
    for kw, exc, msg in cases:
        with pytest.raises(exc, match=msg):
            next(gen.stream_infer(51, **kw))
    with pytest.raises(TypeError, match="session_id must be int"):
        next(gen.stream_infer("s", [ids]))
    # A session answering one request refuses a second one (the engine's message).
    first = gen.stream_infer(52, [ids], request_output_len=200, ignore_eos=True)
    next(first)
    with pytest.raises(ValueError, match="session 52 is busy"):
        next(gen.stream_infer(52, [ids], sequence_start=False))
    first.close()
    gen.end(52)

    with pytest.raises(ValueError, match="9999999"):
        tm_model.tokenizer.decode([9999999])
    with pytest.raises(ValueError, match="role"):
        tm_model.model.messages2prompt([{"role": "wizard", "content": "x"}])
    with pytest.raises(TypeError, match=r"messages\[0\]\['content'\] must be a str"):
        tm_model.model.messages2prompt([{"role": "user"}])
    with pytest.raises(TypeError, match="top_k must be int"):
        lmdeploy.GenerationConfig(top_k="5").to_engine(tm._tm)
    _wait_idle(tm_model)
