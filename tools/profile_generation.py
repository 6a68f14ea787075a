#!/usr/bin/env python3
"""Token latency and throughput of the Engine at fixed concurrency and fixed lengths.

lmdeploy's benchmark/profile_generation.py for our CPU engine: for every concurrency C and
every (prompt, completion) pair, C client threads each run --test-round requests one after
another through the real Engine (scheduler, persistent batching, sampling, streams), in
process, via the hidden `lmdeploy bench_engine` command (which timestamps every output
chunk). Printed per configuration as lmdeploy prints it, then one summary table:

  first-token latency min / max / avg, total-token latency (per request), token latency
  percentiles P50 / P75 / P95 / P99 (tokens after the first), output tok/s, total tok/s.

  python3 tools/profile_generation.py [--model GGUF] [--lmdeploy BIN] [-c 1 8 32 64]
        [-pt 1 128 512] [-ct 128 128 128] [--test-round 2] [--threads 2] [--csv out.csv]

Requests ignore eos (every request generates exactly its completion length) and decode
greedily (lmdeploy's default top_k=1). Prompts are fixed-seed random token ids. No figure
here is a test: tests/python/test_bench_smoke.py only checks the output's structure.
"""
import argparse
import csv
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import profile_common as pc  # noqa: E402


def token_latency_rows(req):
    """lmdeploy's per-request token latency vector (length = completion tokens): entry 0 is
    the first-token latency, the first token of each later chunk gets the time since the
    previous chunk, the other tokens of a multi-token chunk get 0."""
    lat, prev, k = [], req["start"], 0
    for t, n in zip(req["t"], req["n"]):
        lat.append(t - prev)
        lat.extend([0.0] * (n - 1))
        prev = t
        k += n
    return lat


def summarize(sc, prompt, completion, test_round):
    reqs = sc["requests"]
    bad = [r for r in reqs if r.get("error") or r.get("finish") not in ("length", "stop")]
    if bad:
        raise SystemExit("%s: %d request(s) failed, first: finish=%r error=%r" % (
            sc["scenario"], len(bad), bad[0].get("finish"), bad[0].get("error")))
    lats = [token_latency_rows(r) for r in reqs]
    first = [x[0] for x in lats]
    totals = [sum(x) for x in lats]
    rest = sorted(v for x in lats for v in x[1:])
    if rest:
        pcts = [rest[min(int(q * len(rest)), len(rest) - 1)] for q in (0.5, 0.75, 0.95, 0.99)]
    else:
        pcts = [sum(first) / len(first)] * 4
    n_out = sum(len(x) for x in lats)
    wall = sc["wall_s"]
    return {"concurrency": sc["concurrency"], "prompt_tokens": prompt, "completion_tokens": completion,
            "test_round": test_round, "requests": len(reqs), "elapsed_s": wall,
            "first_token_latency": {"min": min(first), "max": max(first), "avg": sum(first) / len(first)},
            "total_token_latency": {"min": min(totals), "max": max(totals), "avg": sum(totals) / len(totals)},
            "percentiles": dict(zip(("p50", "p75", "p95", "p99"), pcts)),
            "output_tokens": n_out, "output_throughput": n_out / wall,
            "total_throughput": len(reqs) * (prompt + completion) / wall,
            "cpu_s": sc["cpu_s"], "peak_rss_mib": sc["peak_rss_mib"], "stats": sc["stats"]}


def print_block(s):
    r4 = lambda x: round(x, 4)  # noqa: E731
    f, t, p = s["first_token_latency"], s["total_token_latency"], s["percentiles"]
    print("-" * 50)
    print("total time: %.2fs" % s["elapsed_s"])
    print("concurrency: %d, test_round: %d" % (s["concurrency"], s["test_round"]))
    print("input_tokens: %d, output_tokens: %d" % (s["prompt_tokens"], s["completion_tokens"]))
    print("first_token latency(min, max, ave): %ss, %ss, %ss" % (r4(f["min"]), r4(f["max"]), r4(f["avg"])))
    print("total_token latency(min, max, ave): %ss, %ss, %ss" % (r4(t["min"]), r4(t["max"]), r4(t["avg"])))
    print("token_latency percentiles(50%%,75%%,95%%,99%%)(s): [%s]" % ", ".join(
        str(r4(p[k])) for k in ("p50", "p75", "p95", "p99")))
    print("throughput(output): %.2f token/s" % s["output_throughput"])
    print("throughput(total): %.2f token/s" % s["total_throughput"])
    print("-" * 50, flush=True)


COLUMNS = ["batch", "prompt_tokens", "completion_tokens", "throughput(out tok/s)", "mem(GB)", "FTL(ave)(s)",
           "FTL(min)(s)", "FTL(max)(s)", "50%(s)", "75%(s)", "95%(s)", "99%(s)"]


def row(s):
    f, p = s["first_token_latency"], s["percentiles"]
    return [s["concurrency"], s["prompt_tokens"], s["completion_tokens"], "%.2f" % s["output_throughput"],
            "%.3f" % (s["peak_rss_mib"] / 1024.0), "%.4f" % f["avg"], "%.4f" % f["min"], "%.4f" % f["max"],
            "%.4f" % p["p50"], "%.4f" % p["p75"], "%.4f" % p["p95"], "%.4f" % p["p99"]]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=pc.default_model())
    ap.add_argument("--lmdeploy", default=pc.default_binary(), help="the lmdeploy binary")
    ap.add_argument("-c", "--concurrency", nargs="+", type=int, default=[1, 8, 32, 64])
    ap.add_argument("-pt", "--prompt-tokens", nargs="+", type=int, default=[1, 128, 512])
    ap.add_argument("-ct", "--completion-tokens", nargs="+", type=int, default=[128, 128, 128])
    ap.add_argument("-tr", "--test-round", type=int, default=2, help="requests per client thread")
    ap.add_argument("-w", "--warmup-round", type=int, default=1,
                    help="warm-up rounds (each: every client runs one 4-token request)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--isa", default="", help="LMDEPLOY_CPU_ISA for the engine (avx2 / avx512 / scalar)")
    ap.add_argument("--engine-arg", action="append", default=[],
                    help="extra bench_engine flag, e.g. --engine-arg=--quant-policy=8 (repeatable)")
    ap.add_argument("--csv", default="", help="also write the summary table here")
    ap.add_argument("--json", default="", help="also write every figure here")
    a = ap.parse_args()
    if len(a.prompt_tokens) != len(a.completion_tokens):
        raise SystemExit("--prompt-tokens and --completion-tokens need the same count (%d vs %d)" % (
            len(a.prompt_tokens), len(a.completion_tokens)))
    if min(a.concurrency + a.prompt_tokens + a.completion_tokens) < 1 or a.test_round < 1 or a.warmup_round < 0:
        raise SystemExit("concurrency, token counts and --test-round must be >= 1")
    if not os.path.exists(a.lmdeploy):
        raise SystemExit("lmdeploy binary not found: %s (build it, or pass --lmdeploy)" % a.lmdeploy)

    print(pc.header("profile_generation", sys.argv))
    print("model: %s; threads: %d" % (a.model, a.threads), flush=True)
    env = dict(os.environ)
    if a.isa:
        env["LMDEPLOY_CPU_ISA"] = a.isa
    results, setup = [], None
    # One engine per concurrency (sized for it), all length pairs as scenarios of that run.
    for conc in a.concurrency:
        plan = {"scenarios": [{"name": "c%d_p%d_g%d" % (conc, p, c), "concurrency": conc,
                               "warmup": conc * a.warmup_round,
                               "requests": [[p, c]] * (conc * a.test_round)}
                              for p, c in zip(a.prompt_tokens, a.completion_tokens)]}
        for p, c in zip(a.prompt_tokens, a.completion_tokens):
            print("profiling ... concurrency: %d, n_prompt_token: %d, n_completion_token: %d, test_round: %d, "
                  "warmup_round: %d" % (conc, p, c, a.test_round, a.warmup_round), flush=True)
        cmd = [a.lmdeploy, "bench_engine", a.model, "--plan", "-", "--threads", str(a.threads)] + a.engine_arg
        proc = subprocess.run(cmd, input=json.dumps(plan), capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise SystemExit("bench_engine failed (rc %d): %s" % (proc.returncode, proc.stderr.strip()[-800:]))
        lines = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
        setup = lines[0]
        for (p, c), sc in zip(zip(a.prompt_tokens, a.completion_tokens), lines[1:]):
            s = summarize(sc, p, c, a.test_round)
            print_block(s)
            results.append(s)

    print("\nengine: lmdeploy bench_engine, isa %s, numerics %s, kv quant_policy %s, threads %d" % (
        setup["isa"], setup["numerics"], setup["quant_policy"], setup["threads"]))
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "|".join("-" * (len(h) + 2) for h in COLUMNS) + "|")
    for s in results:
        print("| " + " | ".join(str(v) for v in row(s)) + " |")
    print("(mem = peak RSS of the engine process, host memory)", flush=True)
    if a.csv:
        with open(a.csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(COLUMNS)
            for s in results:
                w.writerow(row(s))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"setup": setup, "results": results, "command": sys.argv}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
