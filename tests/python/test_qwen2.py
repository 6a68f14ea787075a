"""Qwen2 / Qwen2.5 from GGUF and HF, checked against llama.cpp (llama-cpp-python) and numpy.

Two models:
- tiny-qwen2 (tools/make_tiny_model.py --arch qwen2 --gguf, via prepare_test_models.sh): the
  same random weights as HF safetensors + config.json and as a GGUF in llama.cpp's naming
  (q/k/v biases, GQA 4/2, rope theta 1e6). Our logits on both, the numpy f64 reference and
  llama.cpp's must agree; the GGUF error paths (unknown architecture, missing tensor) use it.
- Qwen2.5-Coder-0.5B-Instruct Q4_K_M (tools/fetch_model.sh qwen2.5-coder-0.5b; the tests on
  it are skipped, saying so, only when it cannot be fetched). Teacher-forced logits on 20
  ChatML prompts followed by llama.cpp's 16 greedy tokens, at every position, against
  llama.cpp with n_batch 512; llama.cpp's own difference between n_batch 512 and n_batch 1
  on the same sequences is the noise floor. Greedy: our argmax at each continuation position
  must be llama.cpp's token, or the first difference must be a near tie (llama.cpp's top-2
  margin < 0.5 there). The weights load compact (src/convert/gguf_repack.h: Q5_0 / Q8_0 ->
  int8, Q4_K -> int4, Q6_K -> f16), so our side runs the fast kernels; most of the time is
  llama.cpp's three passes over the 20 prompts (module fixture llama_runs).

llama.cpp runs with use_extra_bufts = false: on this machine its AMX / repacked weight
buffers fault (SIGSEGV) as soon as a batch has more than one token; without them it uses its
ordinary CPU kernels (same quantised dot products).
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import numpy_llama

NEAR_TIE = 0.5        # llama.cpp's top-2 margin below which a greedy difference is a tie
N_NEW = 16            # greedy tokens per prompt
PROMPTS = [
    "Write a Python function that reverses a string.",
    "What is a closure in JavaScript?",
    "Explain the difference between a list and a tuple in Python.",
    "Write a SQL query that counts the rows of a table named users.",
    "How do I read a file line by line in C?",
    "What does the `git rebase` command do?",
    "Write a bash one-liner that counts the lines of every .py file.",
    "What is the time complexity of binary search?",
    "Write a Rust function that adds two integers.",
    "Explain what a mutex is.",
    "How do I sort a dictionary by value in Python?",
    "What is the difference between TCP and UDP?",
    "Write a Go program that prints hello world.",
    "What is a segmentation fault?",
    "Write a regular expression that matches an email address.",
    "用 Python 写一个计算阶乘的函数。",
    "What is recursion? Give a short example.",
    "How do I declare a constant in C++?",
    "Write a Java class with a main method.",
    "What does HTTP status code 404 mean?",
]


def chatml(prompt):
    return f"<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n"


def run_lmdeploy(binary, *args, check=True):
    p = subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True)
    if check and p.returncode != 0:
        pytest.fail(f"lmdeploy {' '.join(map(str, args))} failed ({p.returncode}): {p.stderr[-2000:]}")
    return p


def our_logits(binary, model, ids, tmp_path, numerics="exact", kv="f16"):
    out = tmp_path / "logits.npy"
    run_lmdeploy(binary, "logits", model, "--tokens", " ".join(map(str, ids)), "--out", out,
                 "--numerics", numerics, "--kv", kv)
    return np.load(out).astype(np.float64)


@pytest.fixture(scope="module")
def llama_cpp_plain(llama_cpp, monkeypatch_module):
    """llama_cpp with use_extra_bufts = false for every model it loads (see the docstring)."""
    default = llama_cpp.llama_cpp.llama_model_default_params

    def params():
        p = default()
        p.use_extra_bufts = False
        return p

    monkeypatch_module.setattr(llama_cpp.llama_cpp, "llama_model_default_params", params)
    return llama_cpp


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def llama_logits(llama_cpp, path, ids, n_batch=512):
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=512, n_threads=2, n_batch=n_batch, n_ubatch=n_batch,
                          logits_all=True, seed=0, flash_attn=False, verbose=False)
    llm.eval(ids)
    return np.array(llm.scores[: len(ids)], dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# tiny-qwen2: GGUF == HF == numpy, llama.cpp, convert, errors


@pytest.fixture(scope="module")
def tiny(test_models):
    d = test_models / "tiny-qwen2"
    return {"hf": d, "gguf": d / "tiny-qwen2.gguf"}


TINY_IDS = [1] + list(range(5, 505, 9))  # 57 tokens over the whole vocabulary


def test_tiny_gguf_and_hf_give_the_same_logits(lmd_binary, tiny, tmp_path):
    ref = numpy_llama.logits(numpy_llama.load(str(tiny["hf"])), TINY_IDS)  # f64, half-split RoPE
    scale = np.abs(ref).max()
    # fp32 KV: the exact path is then fp32 end to end.
    gguf = our_logits(lmd_binary, tiny["gguf"], TINY_IDS, tmp_path, kv="f32")
    hf = our_logits(lmd_binary, tiny["hf"], TINY_IDS, tmp_path, kv="f32")
    assert np.abs(gguf - hf).max() <= 1e-4 * scale
    assert np.abs(gguf - ref).max() <= 1e-4 * scale
    assert np.abs(hf - ref).max() <= 1e-4 * scale


def test_tiny_gguf_matches_llama_cpp(lmd_binary, tiny, tmp_path, llama_cpp_plain):
    ref = llama_logits(llama_cpp_plain, tiny["gguf"], TINY_IDS)
    scale = np.abs(ref).max()
    # Both with f16 K/V (llama.cpp's default); f32 weights, so no activation quantisation on
    # either side. Measured: 2.0e-4 of max|logit| (llama.cpp vs numpy f64: 3.4e-4).
    for numerics in ("exact", "fast"):
        ours = our_logits(lmd_binary, tiny["gguf"], TINY_IDS, tmp_path, numerics=numerics)
        assert np.abs(ours - ref).max() <= 1e-3 * scale, numerics
        assert (ours.argmax(axis=1) == ref.argmax(axis=1)).all(), numerics


def test_tiny_gguf_converts_to_a_workspace_with_the_same_logits(lmd_binary, tiny, tmp_path):
    ws = tmp_path / "ws"
    run_lmdeploy(lmd_binary, "convert", "qwen-7b", tiny["gguf"], "--dst-path", ws)
    ini = (ws / "triton_models" / "weights" / "config.ini").read_text()
    assert "attn_bias = 1" in ini and "kv_head_num = 2" in ini and "rope_theta = 1e+06" in ini
    want = our_logits(lmd_binary, tiny["gguf"], TINY_IDS, tmp_path, kv="f32")
    got = our_logits(lmd_binary, ws, TINY_IDS, tmp_path, kv="f32")
    np.testing.assert_array_equal(got, want)


def copy_gguf(src, dst, arch=None, drop=()):
    """src re-written with another general.architecture and/or without some tensors."""
    import gguf

    r = gguf.GGUFReader(str(src))
    old_arch = r.fields["general.architecture"].contents()
    arch = arch or old_arch
    w = gguf.GGUFWriter(str(dst), arch)
    for f in r.fields.values():
        if f.name.startswith("GGUF.") or f.name == "general.architecture":
            continue
        name = f.name.replace(old_arch + ".", arch + ".", 1) if f.name.startswith(old_arch + ".") else f.name
        vtype = f.types[0]
        if vtype == gguf.GGUFValueType.ARRAY:
            w.add_key_value(name, f.contents(), vtype, sub_type=f.types[-1])
        else:
            w.add_key_value(name, f.contents(), vtype)
    for t in r.tensors:
        if t.name not in drop:
            w.add_tensor(t.name, np.asarray(t.data))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def one_line_error(p):
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 1, p.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), p.stderr
    return lines[0]


def test_unknown_gguf_architecture_is_one_line_listing_the_supported(lmd_binary, tiny, tmp_path):
    bad = tmp_path / "gemma3.gguf"
    copy_gguf(tiny["gguf"], bad, arch="gemma3")
    for args in (["logits", bad, "--tokens", "1 2", "--out", tmp_path / "x.npy"],
                 ["convert", "base", bad, "--dst-path", tmp_path / "ws"]):
        line = one_line_error(run_lmdeploy(lmd_binary, *args, check=False))
        assert "unsupported GGUF architecture gemma3" in line and "(supported: llama, qwen2)" in line


@pytest.mark.parametrize("tensor", ["blk.1.attn_k.bias", "blk.0.ffn_up.weight", "output_norm.weight"])
def test_qwen2_gguf_missing_tensor_is_one_line_naming_it(lmd_binary, tiny, tmp_path, tensor):
    bad = tmp_path / "missing.gguf"
    copy_gguf(tiny["gguf"], bad, drop={tensor})
    line = one_line_error(run_lmdeploy(lmd_binary, "logits", bad, "--tokens", "1 2", "--out", tmp_path / "x.npy",
                                       check=False))
    assert f"'{tensor}'" in line


def test_k_quant_row_length_not_a_multiple_of_256_is_one_line_naming_tensor_and_shape(lmd_binary, tmp_path):
    """A Q4_K tensor with rows of 320 values (a super-block is 256): gguf-py refuses to write one,
    so a valid [256, 3] tensor is written and its ne[0] patched in the header."""
    import struct
    import gguf

    bad = tmp_path / "bad-q4k.gguf"
    name = b"blk.0.ffn_down.weight"
    w = gguf.GGUFWriter(str(bad), "qwen2")
    w.add_tensor(name.decode(), np.zeros((3, 144), np.uint8), raw_shape=(3, 144),
                 raw_dtype=gguf.GGMLQuantizationType.Q4_K)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    data = bytearray(bad.read_bytes())
    info = name + struct.pack("<IQQ", 2, 256, 3)
    at = data.index(info)
    data[at:at + len(info)] = name + struct.pack("<IQQ", 2, 320, 3)
    bad.write_bytes(data)
    for args in (["logits", bad, "--tokens", "1 2", "--out", tmp_path / "x.npy"],
                 ["convert", "qwen-7b", bad, "--dst-path", tmp_path / "ws"]):
        line = one_line_error(run_lmdeploy(lmd_binary, *args, check=False))
        assert "'blk.0.ffn_down.weight' (Q4_K, ne=[320,3])" in line, line
        assert "not a multiple of the Q4_K block size 256" in line, line


# ---------------------------------------------------------------------------------------------
# the real Qwen2.5-Coder-0.5B-Instruct Q4_K_M


@pytest.fixture(scope="module")
def qwen_path(repo_root):
    p = subprocess.run(["bash", str(repo_root / "tools" / "fetch_model.sh"), "qwen2.5-coder-0.5b"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip("Qwen2.5-Coder-0.5B could not be fetched (tools/fetch_model.sh qwen2.5-coder-0.5b): "
                    + p.stderr.strip()[-500:])
    return p.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def llama_runs(qwen_path, llama_cpp_plain):
    """Per prompt: ids = prompt + llama.cpp's N_NEW greedy tokens, the prompt length, llama.cpp's
    top-2 margin at each generated token, its logits over ids with n_batch 512 and n_batch 1."""
    lc = llama_cpp_plain
    llm = lc.Llama(model_path=qwen_path, n_ctx=512, n_threads=2, logits_all=True, seed=0, flash_attn=False,
                   verbose=False)
    runs = []
    for prompt in PROMPTS:
        ids = llm.tokenize(chatml(prompt).encode(), add_bos=False, special=True)
        n_prompt = len(ids)
        llm.reset()
        llm.eval(ids)
        margins = []
        for _ in range(N_NEW):
            row = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float64)
            top2 = np.sort(row)[-2:]
            margins.append(top2[1] - top2[0])
            ids.append(int(row.argmax()))
            llm.eval([ids[-1]])
        runs.append({"ids": ids, "n_prompt": n_prompt, "margins": margins,
                     "b512": llama_logits(lc, qwen_path, ids)})
    llm1 = lc.Llama(model_path=qwen_path, n_ctx=512, n_threads=2, n_batch=1, n_ubatch=1, logits_all=True, seed=0,
                    flash_attn=False, verbose=False)
    for r in runs:
        llm1.reset()
        llm1.eval(r["ids"])
        r["b1"] = np.array(llm1.scores[: len(r["ids"])], dtype=np.float64)
    return runs


def diff_stats(pairs):
    """max and RMS |a - b| over every position of every pair, and max |b| (the scale)."""
    d = np.concatenate([np.abs(a - b).ravel() for a, b in pairs])
    scale = max(np.abs(b).max() for _, b in pairs)
    return d.max(), np.sqrt(np.mean(d * d)), scale


def greedy_agreement(runs, ours):
    """(identical, parted at a near tie, parted elsewhere: [(prompt, position, margin)])."""
    same, ties, bad = 0, 0, []
    for prompt, r, o in zip(PROMPTS, runs, ours):
        n = r["n_prompt"]
        for j in range(N_NEW):
            if int(o[n - 1 + j].argmax()) != r["ids"][n + j]:
                if r["margins"][j] < NEAR_TIE:
                    ties += 1
                else:
                    bad.append((prompt, j, r["margins"][j]))
                break
        else:
            same += 1
    return same, ties, bad


@pytest.fixture(scope="module")
def qwen_workspace(lmd_binary, qwen_path, tmp_path_factory):
    ws = tmp_path_factory.mktemp("qwen2") / "ws"
    run_lmdeploy(lmd_binary, "convert", "qwen-7b", qwen_path, "--dst-path", ws)
    return ws


def report(name, stats, floor):
    (m, r, s), (fm, fr, _) = stats, floor
    print(f"\n{name}: max {m:.4f} ({m / s:.2e} of max|logit| {s:.2f}), RMS {r:.4f}; "
          f"llama.cpp n_batch 512 vs 1: max {fm:.4f}, RMS {fr:.4f}", file=sys.stderr)


def test_qwen25_fast_path_matches_llama_cpp(lmd_binary, qwen_path, llama_runs, tmp_path):
    """The default fast path on the GGUF: within llama.cpp's own batch-size noise floor."""
    ours = [our_logits(lmd_binary, qwen_path, r["ids"], tmp_path, numerics="fast") for r in llama_runs]
    stats = diff_stats([(o, r["b512"]) for o, r in zip(ours, llama_runs)])
    floor = diff_stats([(r["b1"], r["b512"]) for r in llama_runs])
    report("fast", stats, floor)
    assert stats[0] <= 1.5 * floor[0] and stats[1] <= 1.5 * floor[1]
    same, ties, bad = greedy_agreement(llama_runs, ours)
    print(f"fast greedy: {same} identical, {ties} parted at a near tie", file=sys.stderr)
    assert not bad, bad


# The exact-path, numpy-f64 and chat checks on the real 0.5B file take minutes each on 2 cores
# and have not yet been run to completion here (issue 15's note): they run with
# LMD_SLOW_TESTS=1; the fast-path comparison above always runs.
slow = pytest.mark.skipif(os.environ.get("LMD_SLOW_TESTS") != "1",
                          reason="minutes on the real Qwen2.5 file: set LMD_SLOW_TESTS=1")


@slow
def test_qwen25_exact_path_matches_llama_cpp(lmd_binary, qwen_path, qwen_workspace, llama_runs, tmp_path):
    """The exact path (fp32 activations) through the converted workspace, which is bit-identical
    to loading the GGUF on the exact path (checked on two prompts). llama.cpp rounds activations
    to 8 bits for every quantised weight, the exact path does not: that rounding, not the
    forward, is most of the difference (test_qwen25_exact_path_matches_numpy_f64)."""
    for r in llama_runs[:2]:
        np.testing.assert_array_equal(our_logits(lmd_binary, qwen_workspace, r["ids"], tmp_path),
                                      our_logits(lmd_binary, qwen_path, r["ids"], tmp_path))
    ours = [our_logits(lmd_binary, qwen_workspace, r["ids"], tmp_path) for r in llama_runs]
    stats = diff_stats([(o, r["b512"]) for o, r in zip(ours, llama_runs)])
    floor = diff_stats([(r["b1"], r["b512"]) for r in llama_runs])
    report("exact", stats, floor)
    assert stats[0] <= 3.0 * floor[0] and stats[1] <= 3.0 * floor[1]
    same, ties, bad = greedy_agreement(llama_runs, ours)
    print(f"exact greedy: {same} identical, {ties} parted at a near tie", file=sys.stderr)
    assert not bad, bad


@slow
def test_qwen25_exact_path_matches_numpy_f64(lmd_binary, qwen_path, llama_runs, tmp_path):
    """Our forward, not only its rounding, is right on the real file: the exact path with fp32
    K/V against tools/numpy_llama.py (f64, weights dequantised by the gguf package)."""
    ids = llama_runs[0]["ids"][:12]
    ref = numpy_llama.logits(numpy_llama.load(qwen_path, np.float64), ids)
    ours = our_logits(lmd_binary, qwen_path, ids, tmp_path, kv="f32")
    err = np.abs(ours - ref).max() / np.abs(ref).max()
    print(f"\nexact (fp32 K/V) vs numpy f64: {err:.2e} of max|logit|", file=sys.stderr)
    assert err <= 1e-4


@slow
def test_qwen25_chat_writes_python(lmd_binary, qwen_path):
    p = run_lmdeploy(lmd_binary, "chat", qwen_path, "--prompt", "Write a Python function that checks whether a "
                     "number is prime.", "--temperature", 0, "--max_new_tokens", 96, "--session-len", 512)
    assert "def " in p.stdout and "return" in p.stdout, p.stdout
