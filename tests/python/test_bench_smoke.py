"""Smoke test of the benchmark tools on tiny settings: they run and print their tables.

Never asserts a speed figure (benchmarks are not timed tests; see docs/benchmarks.md).
Needs the lmdeploy binary (env LMD_BINARY, as ctest sets it) and the SmolLM2 GGUF (env
LMD_MODEL_PATH or the default cache path; tools/fetch_model.sh downloads it).
"""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, "tools", "compare_peers.py")


def _binary():
    b = os.environ.get("LMD_BINARY") or os.path.join(ROOT, "build", "bin", "lmdeploy")
    if not os.path.exists(b):
        pytest.fail("lmdeploy binary not found at %s: build it (cmake --build build) or set LMD_BINARY" % b)
    return b


def _model():
    m = os.environ.get("LMD_MODEL_PATH") or os.path.expanduser("~/.cache/lmdeploy/SmolLM2-135M-Instruct.Q4_1.gguf")
    if not os.path.exists(m):
        pytest.fail("model %s missing: run tools/fetch_model.sh or set LMD_MODEL_PATH" % m)
    return m


def _has_llama_cpp():
    try:
        import llama_cpp  # noqa: F401
        return True
    except Exception:  # noqa: BLE001
        return False


def test_membw_probe_prints_json():
    out = subprocess.run([_binary(), "bench_membw", "--threads", "1", "--mib", "16", "--reps", "1"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["membw_read_gb_s"] > 0 and r["threads"] == 1


def test_bench_peers_rejects_bad_flags():
    out = subprocess.run([_binary(), "bench_peers", _model(), "--seqs", "0"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode != 0
    assert "--seqs" in (out.stderr + out.stdout)


def test_compare_peers_prints_ratio_table(tmp_path):
    js = tmp_path / "r.json"
    cmd = [sys.executable, TOOL, "--lmdeploy", _binary(), "--model", _model(), "--threads", "1", "--pp", "8",
           "--tg", "2", "--seqs", "2", "--prompt", "4", "--gen", "2", "--reps", "1", "--membw-mib", "16",
           "--json", str(js)]
    if not _has_llama_cpp():
        cmd.append("--skip-llama")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    for needle in ("machine:", "command:", "| figure", "prefill 8 (tok/s)", "decode batch 1 (tok/s)",
                   "aggregate decode, 2 seqs (tok/s)", "peak RSS (MiB)", "roofline:"):
        assert needle in text, "missing %r in:\n%s" % (needle, text)
    r = json.loads(js.read_text())
    assert r["ours"]["pp_tok_s"] > 0 and r["ours"]["batched"]["2"] > 0
    assert r["ours"]["peak_rss_mib"] > 10
    if _has_llama_cpp():
        assert r["llama_cpp"] is not None and r["llama_cpp"]["tg_tok_s"] > 0
        assert "ratio" in text and "x |" in text
