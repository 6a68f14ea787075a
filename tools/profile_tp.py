#!/usr/bin/env python3
"""Throughput of the Engine at several tensor-parallel sizes, side by side, in one run.

    python3 tools/profile_tp.py [--model GGUF] [--tp 1 3] [--threads 2] [--repeat 3] [--json out.json]

For each --tp value the same three scenarios run through the real Engine (the hidden
`lmdeploy bench_engine`, one process per tp, the same --threads split across the ranks):

  prefill 512      one request, 512 prompt tokens, 1 generated: 512 / first-token latency
  decode batch 1   one request, 1 prompt token, 128 generated: tokens after the first / time
  8 sequences      8 concurrent requests, 128 prompt + 128 generated: output tok/s (wall)

and prints one table with every tp's figure and its ratio to the first tp. The tp values must
divide the model's heads and KV heads: SmolLM2-135M takes 1 or 3; for 2, make a variant with
tools/make_tp2_variant.py. On one socket the ranks share cores and memory bandwidth and every
layer adds two all-reduces, so tp > 1 is not expected to be faster here (docs/benchmarks.md,
"Tensor parallelism"). No figure is a test: tests/python/test_bench_smoke.py runs it tiny.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import profile_common as pc  # noqa: E402


def scenarios(prompt, gen, seqs, rounds):
    return {"scenarios": [
        {"name": "prefill", "concurrency": 1, "warmup": 1, "requests": [[prompt, 1]] * rounds},
        {"name": "decode", "concurrency": 1, "warmup": 1, "requests": [[1, gen]] * rounds},
        {"name": "batch", "concurrency": seqs, "warmup": seqs, "requests": [[128, gen]] * seqs},
    ]}


def check(sc):
    bad = [r for r in sc["requests"] if r.get("error") or r.get("finish") not in ("length", "stop")]
    if bad:
        raise SystemExit("%s: %d request(s) failed, first: finish=%r error=%r" % (
            sc["scenario"], len(bad), bad[0].get("finish"), bad[0].get("error")))


def figures(lines, prompt):
    by = {sc["scenario"]: sc for sc in lines}
    for sc in by.values():
        check(sc)
    pre = statistics.median(r["t"][0] - r["start"] for r in by["prefill"]["requests"])
    dec = statistics.median(sum(r["n"][1:]) / (r["t"][-1] - r["t"][0]) for r in by["decode"]["requests"])
    b = by["batch"]
    out = sum(sum(r["n"]) for r in b["requests"])
    return {"prefill": prompt / pre, "decode": dec, "batch": out / b["wall_s"],
            "peak_rss_mib": max(sc["peak_rss_mib"] for sc in by.values())}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=pc.default_model())
    ap.add_argument("--lmdeploy", default=pc.default_binary(), help="the lmdeploy binary")
    ap.add_argument("--tp", nargs="+", type=int, default=[1, 3], help="tensor-parallel sizes (first = baseline)")
    ap.add_argument("--threads", type=int, default=2, help="compute threads, split across the ranks")
    ap.add_argument("--prompt", type=int, default=512, help="prefill scenario's prompt tokens")
    ap.add_argument("--gen", type=int, default=128, help="tokens generated per decode request")
    ap.add_argument("--seqs", type=int, default=8, help="concurrent sequences of the batch scenario")
    ap.add_argument("--rounds", type=int, default=3, help="requests of the prefill and decode scenarios")
    ap.add_argument("--repeat", type=int, default=1,
                    help="sweeps over the tp values, alternating; the best of each figure is kept (shared VMs)")
    ap.add_argument("--json", default="", help="also write the figures here")
    a = ap.parse_args()
    if min(a.tp) < 1 or min(a.prompt, a.gen, a.seqs, a.rounds, a.repeat) < 1 or a.gen < 2:
        raise SystemExit("--tp, --prompt, --seqs, --rounds and --repeat must be >= 1 and --gen >= 2")
    if not os.path.exists(a.lmdeploy):
        raise SystemExit("lmdeploy binary not found: %s (build it, or pass --lmdeploy)" % a.lmdeploy)

    print(pc.header("profile_tp", sys.argv))
    print("model: %s; threads: %d (split across the ranks)" % (a.model, a.threads), flush=True)
    plan = json.dumps(scenarios(a.prompt, a.gen, a.seqs, a.rounds))
    results, runs = {}, {tp: [] for tp in a.tp}
    for _ in range(a.repeat):
        for tp in a.tp:
            cmd = [a.lmdeploy, "bench_engine", a.model, "--plan", "-", "--threads", str(a.threads), "--tp", str(tp)]
            proc = subprocess.run(cmd, input=plan, capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit("bench_engine --tp %d failed (rc %d): %s" % (tp, proc.returncode,
                                                                             proc.stderr.strip()[-800:]))
            lines = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
            runs[tp].append(figures(lines[1:], a.prompt))
            print("tp %d: %s" % (tp, json.dumps({k: round(v, 1) for k, v in runs[tp][-1].items()})), flush=True)
    for tp, rs in runs.items():  # best speed, largest memory
        results[tp] = {k: max(r[k] for r in rs) for k in rs[0]}

    base = a.tp[0]
    rows = [("prefill %d (tok/s)" % a.prompt, "prefill"), ("decode batch 1 (tok/s)", "decode"),
            ("aggregate decode, %d seqs (tok/s)" % a.seqs, "batch"), ("peak RSS (MiB)", "peak_rss_mib")]
    head = ["figure"] + ["tp %d" % t for t in a.tp] + ["tp %d / tp %d" % (t, base) for t in a.tp[1:]]
    print("\n| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for label, key in rows:
        vals = ["%.1f" % results[t][key] for t in a.tp]
        ratios = ["%.2fx" % (results[t][key] / results[base][key]) for t in a.tp[1:]]
        print("| " + " | ".join([label] + vals + ratios) + " |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"command": sys.argv, "threads": a.threads, "results": results, "runs": runs}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
