#!/usr/bin/env python3
"""Request throughput of the Engine under a conversation-like load, in process.

lmdeploy's benchmark/profile_throughput.py for our CPU engine: N requests whose prompt and
completion lengths follow a fixed-seed, conversation-like distribution (see
tools/profile_common.py: lognormal, heavy right tail, clipped) run with at most C in flight
through the real Engine, via the hidden `lmdeploy bench_engine` command (timestamps of every
output chunk). Prints, as lmdeploy's / vLLM's serving benchmarks do:

  request/s, input and output tok/s, TTFT / TPOT / ITL mean, median, P99.

  python3 tools/profile_throughput.py [--model GGUF] [--lmdeploy BIN] [-n 128] [-c 32]
        [--seed 0] [--threads 2] [--json out.json]

TTFT = submit -> first output token; TPOT = (last token - first token) / (tokens - 1) per
request; ITL = every gap between consecutive output chunks (one token each on this engine).
Requests ignore eos so each produces exactly its drawn completion length; greedy decoding.
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import profile_common as pc  # noqa: E402


def add_length_args(ap):
    ap.add_argument("-n", "--num-prompts", type=int, default=128, help="requests")
    ap.add_argument("-c", "--concurrency", type=int, default=32, help="requests in flight at most")
    ap.add_argument("--seed", type=int, default=0, help="seed of the length draw (and of the prompts)")
    ap.add_argument("--prompt-median", type=int, default=pc.PROMPT_MEDIAN)
    ap.add_argument("--prompt-max", type=int, default=pc.PROMPT_CLIP[1])
    ap.add_argument("--completion-median", type=int, default=pc.COMPLETION_MEDIAN)
    ap.add_argument("--completion-max", type=int, default=pc.COMPLETION_CLIP[1])


def lengths_from(a):
    if a.num_prompts < 1 or a.concurrency < 1:
        raise SystemExit("--num-prompts and --concurrency must be >= 1")
    lo_p = min(pc.PROMPT_CLIP[0], a.prompt_max)
    lo_c = min(pc.COMPLETION_CLIP[0], a.completion_max)
    return pc.sample_lengths(a.num_prompts, a.seed, prompt_median=a.prompt_median,
                             prompt_clip=(max(1, lo_p), a.prompt_max), completion_median=a.completion_median,
                             completion_clip=(max(1, lo_c), a.completion_max))


def describe(lengths):
    ps = [p for p, _ in lengths]
    cs = [c for _, c in lengths]
    return "lengths: prompt median %d mean %.0f max %d; completion median %d mean %.0f max %d (n=%d)" % (
        pc.percentile(ps, 50), sum(ps) / len(ps), max(ps), pc.percentile(cs, 50), sum(cs) / len(cs), max(cs),
        len(lengths))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=pc.default_model())
    ap.add_argument("--lmdeploy", default=pc.default_binary(), help="the lmdeploy binary")
    add_length_args(ap)
    ap.add_argument("--warmup", type=int, default=-1, help="warm-up requests (4 tokens each; -1 = concurrency)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--isa", default="", help="LMDEPLOY_CPU_ISA for the engine (avx2 / avx512 / scalar)")
    ap.add_argument("--engine-arg", action="append", default=[],
                    help="extra bench_engine flag, e.g. --engine-arg=--enable-prefix-caching (repeatable)")
    ap.add_argument("--json", default="", help="also write the metrics and every timeline here")
    a = ap.parse_args()
    lengths = lengths_from(a)
    if not os.path.exists(a.lmdeploy):
        raise SystemExit("lmdeploy binary not found: %s (build it, or pass --lmdeploy)" % a.lmdeploy)

    print(pc.header("profile_throughput", sys.argv))
    print("model: %s; threads: %d" % (a.model, a.threads))
    print(describe(lengths), flush=True)
    plan = {"scenarios": [{"name": "throughput", "concurrency": a.concurrency,
                           "warmup": a.concurrency if a.warmup < 0 else a.warmup,
                           "requests": [list(x) for x in lengths]}]}
    env = dict(os.environ)
    if a.isa:
        env["LMDEPLOY_CPU_ISA"] = a.isa
    cmd = [a.lmdeploy, "bench_engine", a.model, "--plan", "-", "--threads", str(a.threads),
           "--seed", str(a.seed + 1)] + a.engine_arg
    proc = subprocess.run(cmd, input=json.dumps(plan), capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit("bench_engine failed (rc %d): %s" % (proc.returncode, proc.stderr.strip()[-800:]))
    lines = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    setup, sc = lines[0], lines[1]
    m = pc.serving_metrics(sc["requests"], sc["wall_s"])
    print("engine: lmdeploy bench_engine (in process), isa %s, numerics %s, threads %d, peak RSS %.0f MiB" % (
        setup["isa"], setup["numerics"], setup["threads"], sc["peak_rss_mib"]))
    pc.print_serving(m, "lmdeploy (in process)", a.concurrency, sys.stdout)
    if m["failed"]:
        bad = next(r for r in sc["requests"] if r.get("error") or not r["t"])
        print("first failure: finish=%r error=%r" % (bad.get("finish"), bad.get("error")))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"setup": setup, "metrics": m, "lengths": lengths, "stats": sc["stats"],
                       "timelines": sc["requests"], "command": sys.argv}, f, indent=1)
    return 1 if m["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
