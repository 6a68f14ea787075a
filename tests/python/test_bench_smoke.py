"""Smoke test of the benchmark tools on tiny settings: they run and print their tables.

compare_peers.py, profile_generation.py, profile_throughput.py, profile_restful_api.py and
the hidden `lmdeploy bench_engine` / `bench_peers` / `bench_membw` commands each run once on
tiny shapes (seconds); their output is checked for structure and sanity (counts add up,
numbers positive, latencies ordered).

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
TOOLS = os.path.join(ROOT, "tools")


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


def _has_avx2():
    try:
        with open("/proc/cpuinfo") as f:
            return " avx2" in f.read()
    except OSError:
        return False


def test_compare_peers_prints_ratio_table(tmp_path):
    js = tmp_path / "r.json"
    # --batched-bench points nowhere: the tool must fall back to llama-cpp-python and say so
    # (CI never builds llama.cpp; tools/build_llama_batched_bench.sh does, by hand).
    cmd = [sys.executable, TOOL, "--lmdeploy", _binary(), "--model", _model(), "--threads", "1", "--pp", "8",
           "--tg", "2", "--seqs", "2", "--prompt", "4", "--gen", "2", "--reps", "1", "--membw-mib", "16",
           "--batched-bench", str(tmp_path / "no-llama-batched-bench"), "--json", str(js)]
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
    assert "note: HF transformers + torch" in text
    if _has_avx2():  # our AVX2-only path measured as extra rows
        assert "[AVX2 path] decode batch 1 (tok/s)" in text
        assert r["ours_avx2"]["isa"] == "avx2" and r["ours_avx2"]["tg_tok_s"] > 0
    if _has_llama_cpp():
        assert r["llama_cpp"] is not None and r["llama_cpp"]["tg_tok_s"] > 0
        assert r["llama_cpp"]["batched"]["2"] > 0
        assert "ratio" in text and "x |" in text
        assert "note: llama.cpp llama-batched-bench not built" in text


STUB_BATCHED_BENCH = """#!%s
# Stands in for llama-batched-bench: checks the flags compare_peers passes and prints one
# JSONL row per -npl value with speed_tg = 1000 + pl (so the table shows where it came from).
import json, sys
a = sys.argv[1:]
opt = {a[i]: a[i + 1] for i in range(0, len(a) - 1) if a[i].startswith("-")}
assert opt["--output-format"] == "jsonl" and opt["-t"] == opt["-tb"] == "1", a
for pl in opt["-npl"].split(","):
    print(json.dumps({"pp": int(opt["-npp"]), "tg": int(opt["-ntg"]), "pl": int(pl), "speed_tg": 1000.0 + int(pl)}))
"""


def test_compare_peers_takes_batched_figure_from_llama_batched_bench(tmp_path):
    if not _has_llama_cpp():
        pytest.fail("llama-cpp-python is not importable: install it (tools/setup.sh)")
    stub = tmp_path / "llama-batched-bench"
    stub.write_text(STUB_BATCHED_BENCH % sys.executable)
    stub.chmod(0o755)
    js = tmp_path / "r.json"
    out = subprocess.run([sys.executable, TOOL, "--lmdeploy", _binary(), "--model", _model(), "--threads", "1",
                          "--pp", "4", "--tg", "2", "--seqs", "2,3", "--prompt", "4", "--gen", "2", "--reps", "1",
                          "--membw-mib", "0", "--no-avx2", "--batched-bench", str(stub), "--json", str(js)],
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "note: llama.cpp aggregate decode: llama-batched-bench S_TG" in out.stdout
    r = json.loads(js.read_text())
    assert r["llama_batched_bench"]["batched"] == {"2": 1002.0, "3": 1003.0}
    assert r["llama_cpp"]["batched"] == {"2": 1002.0, "3": 1003.0}
    assert r["llama_cpp"]["batched_python"]["2"] > 0  # per-CPU-second table keeps llama-cpp-python's
    assert "1002.0" in out.stdout and "1003.0" in out.stdout


def test_batched_bench_build_script_is_valid_bash():
    out = subprocess.run(["bash", "-n", os.path.join(TOOLS, "build_llama_batched_bench.sh")], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr


# ------------------------------------------------------------------ profile_* metrics
def test_percentile_matches_numpy():
    import numpy as np
    import profile_common as pc
    xs = [0.3, 0.1, 0.7, 0.2, 0.9, 0.4, 0.05]
    for q in (0, 50, 75, 95, 99, 100):
        assert abs(pc.percentile(xs, q) - float(np.percentile(xs, q))) < 1e-12


def test_serving_metrics_of_synthetic_timelines():
    import numpy as np
    import profile_common as pc
    # Two requests: chunk arrival times known, so every metric follows from its definition.
    tl = [{"prompt": 5, "start": 0.0, "t": [0.5, 0.6, 0.8], "n": [1, 1, 1], "completion_tokens": 3, "error": ""},
          {"prompt": 7, "start": 0.1, "t": [0.3, 0.7], "n": [1, 1], "completion_tokens": 2, "error": ""},
          {"prompt": 9, "start": 0.2, "t": [], "n": [], "completion_tokens": 0, "error": "HTTP 500"}]
    m = pc.serving_metrics(tl, 2.0)
    assert m["completed"] == 2 and m["failed"] == 1
    assert m["input_tokens"] == 12 and m["output_tokens"] == 5
    assert abs(m["request_throughput"] - 1.0) < 1e-12 and abs(m["output_throughput"] - 2.5) < 1e-12
    ttft = [0.5, 0.2]
    tpot = [(0.8 - 0.5) / 2, (0.7 - 0.3) / 1]
    itl = [0.1, 0.2, 0.4]
    for key, xs in (("ttft", ttft), ("tpot", tpot), ("itl", itl)):
        assert abs(m[key]["mean"] - float(np.mean(xs))) < 1e-12
        assert abs(m[key]["median"] - float(np.median(xs))) < 1e-12
        assert abs(m[key]["p99"] - float(np.percentile(xs, 99))) < 1e-12


def test_length_distribution_is_seeded_and_clipped():
    import profile_common as pc
    a = pc.sample_lengths(500, seed=3)
    assert a == pc.sample_lengths(500, seed=3) and a != pc.sample_lengths(500, seed=4)
    ps, cs = [p for p, _ in a], [c for _, c in a]
    assert min(ps) >= pc.PROMPT_CLIP[0] and max(ps) <= pc.PROMPT_CLIP[1]
    assert min(cs) >= pc.COMPLETION_CLIP[0] and max(cs) <= pc.COMPLETION_CLIP[1]
    # lognormal: the median near the configured one, the mean above it (right tail)
    assert 0.8 * pc.PROMPT_MEDIAN < pc.percentile(ps, 50) < 1.25 * pc.PROMPT_MEDIAN
    assert sum(ps) / len(ps) > pc.percentile(ps, 50)


# ------------------------------------------------------------------ the tools, tiny runs
def _run(args, timeout=300):
    out = subprocess.run([sys.executable] + args, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout


def test_bench_engine_rejects_a_bad_plan(tmp_path):
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"scenarios": [{"concurrency": 2, "requests": [[4, 0]]}]}))
    out = subprocess.run([_binary(), "bench_engine", _model(), "--plan", str(plan)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode != 0
    assert "[4,0]" in (out.stderr + out.stdout).replace(" ", "")


def test_profile_generation_tiny(tmp_path):
    js = tmp_path / "g.json"
    csv_path = tmp_path / "g.csv"
    text = _run([os.path.join(TOOLS, "profile_generation.py"), "--lmdeploy", _binary(), "--model", _model(),
                 "-c", "1", "3", "-pt", "1", "6", "-ct", "5", "3", "-tr", "2", "-w", "1", "--threads", "1",
                 "--csv", str(csv_path), "--json", str(js)])
    assert text.count("first_token latency(min, max, ave)") == 4
    assert text.count("token_latency percentiles(50%,75%,95%,99%)(s)") == 4
    assert "| batch | prompt_tokens | completion_tokens | throughput(out tok/s)" in text
    assert len(csv_path.read_text().strip().splitlines()) == 1 + 4
    r = json.loads(js.read_text())["results"]
    assert [(s["concurrency"], s["prompt_tokens"], s["completion_tokens"]) for s in r] == [
        (1, 1, 5), (1, 6, 3), (3, 1, 5), (3, 6, 3)]
    for s in r:
        assert s["requests"] == s["concurrency"] * 2
        assert s["output_tokens"] == s["requests"] * s["completion_tokens"]
        f, p = s["first_token_latency"], s["percentiles"]
        assert 0 < f["min"] <= f["avg"] <= f["max"]
        assert 0 <= p["p50"] <= p["p75"] <= p["p95"] <= p["p99"]
        assert s["output_throughput"] > 0 and s["total_throughput"] > s["output_throughput"]
        assert s["elapsed_s"] > 0 and s["peak_rss_mib"] > 10


def test_profile_throughput_tiny(tmp_path):
    js = tmp_path / "t.json"
    text = _run([os.path.join(TOOLS, "profile_throughput.py"), "--lmdeploy", _binary(), "--model", _model(),
                 "-n", "6", "-c", "3", "--prompt-median", "8", "--prompt-max", "24", "--completion-median", "4",
                 "--completion-max", "8", "--threads", "1", "--json", str(js)])
    for needle in ("Serving Benchmark Result", "Successful requests:", "Request throughput (req/s):",
                   "Output token throughput (tok/s):", "Mean TTFT (ms):", "Median TPOT (ms):", "P99 ITL (ms):"):
        assert needle in text, "missing %r in:\n%s" % (needle, text)
    r = json.loads(js.read_text())
    m, lengths = r["metrics"], r["lengths"]
    assert m["completed"] == 6 and m["failed"] == 0
    assert m["input_tokens"] == sum(p for p, _ in lengths)
    assert m["output_tokens"] == sum(c for _, c in lengths)
    assert m["request_throughput"] > 0 and m["output_throughput"] > 0
    for key in ("ttft", "tpot", "itl"):
        assert m[key]["mean"] > 0 and 0 < m[key]["median"] <= m[key]["p99"]


def test_profile_restful_api_tiny(tmp_path):
    js = tmp_path / "h.json"
    text = _run([os.path.join(TOOLS, "profile_restful_api.py"), "--lmdeploy", _binary(), "--model", _model(),
                 "-n", "4", "-c", "2", "--prompt-median", "8", "--prompt-max", "24", "--completion-median", "4",
                 "--completion-max", "8", "--threads", "1", "--json", str(js)])
    assert "Serving Benchmark Result" in text and "api_server (HTTP, stream)" in text
    r = json.loads(js.read_text())
    m, lengths = r["metrics"], r["lengths"]
    assert m["completed"] == 4 and m["failed"] == 0
    # prompts were trimmed with /v1/encode to the drawn token counts; usage reports them
    assert [t["prompt"] for t in r["timelines"]] == [p for p, _ in lengths]
    assert m["output_tokens"] == sum(c for _, c in lengths)
    for key in ("ttft", "tpot", "itl"):
        assert m[key]["mean"] > 0 and 0 < m[key]["median"] <= m[key]["p99"]


def test_profile_tp_tiny(tmp_path):
    js = tmp_path / "tp.json"
    text = _run([os.path.join(TOOLS, "profile_tp.py"), "--lmdeploy", _binary(), "--model", _model(),
                 "--tp", "1", "3", "--prompt", "24", "--gen", "4", "--seqs", "2", "--rounds", "1",
                 "--threads", "1", "--json", str(js)])
    assert "| figure | tp 1 | tp 3 | tp 3 / tp 1 |" in text
    for label in ("prefill 24 (tok/s)", "decode batch 1 (tok/s)", "aggregate decode, 2 seqs (tok/s)",
                  "peak RSS (MiB)"):
        assert "| " + label + " |" in text, "missing %r in:\n%s" % (label, text)
    r = json.loads(js.read_text())["results"]
    assert sorted(r) == ["1", "3"]
    for figs in r.values():
        assert figs["prefill"] > 0 and figs["decode"] > 0 and figs["batch"] > 0 and figs["peak_rss_mib"] > 10


def test_profile_tp_names_a_tp_the_model_cannot_take():
    p = subprocess.run([sys.executable, os.path.join(TOOLS, "profile_tp.py"), "--lmdeploy", _binary(),
                        "--model", _model(), "--tp", "2", "--prompt", "8", "--gen", "2", "--seqs", "1",
                        "--rounds", "1", "--threads", "1"], capture_output=True, text=True, timeout=300)
    assert p.returncode != 0
    assert "--tp 2" in p.stderr and "9" in p.stderr, p.stderr  # the head count that does not divide


def test_tp2_variant_splits_over_two_ranks(tmp_path):
    gguf = pytest.importorskip("gguf")
    out = tmp_path / "tp2.gguf"
    subprocess.run([sys.executable, os.path.join(TOOLS, "make_tp2_variant.py"), _model(), str(out)],
                   check=True, capture_output=True, text=True, timeout=300)
    src, dst = gguf.GGUFReader(_model()), gguf.GGUFReader(str(out))
    assert dst.fields["llama.attention.head_count"].contents() == 6
    assert dst.fields["llama.attention.head_count_kv"].contents() == 2
    assert dst.fields["llama.attention.key_length"].contents() == 64
    a = {t.name: t for t in src.tensors}
    b = {t.name: t for t in dst.tensors}
    assert sorted(a) == sorted(b)
    import numpy as np
    assert np.array_equal(np.asarray(b["blk.0.attn_q.weight"].data), np.asarray(a["blk.0.attn_q.weight"].data)[:384])
    assert np.array_equal(np.asarray(b["blk.0.ffn_down.weight"].data), np.asarray(a["blk.0.ffn_down.weight"].data))
    # and it runs on two ranks
    p = subprocess.run([_binary(), "bench_engine", str(out), "--concurrency", "1", "--prompt", "8",
                        "--completion", "4", "--tp", "2", "--threads", "1"], capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    lines = [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]
    assert lines[0]["tp"] == 2
    assert [r["finish"] for r in lines[1]["requests"]] == ["length"]
