"""Shared pieces of tools/profile_generation.py, profile_throughput.py and profile_restful_api.py.

- paths (model, lmdeploy binary), machine description (CPU model, SIMD, load average);
- the request-length distribution of profile_throughput / profile_restful_api;
- metrics from per-request timelines (TTFT, TPOT, ITL, throughput) and their printing.

A timeline is a dict: {"prompt": prompt tokens, "start": submit time (s), "t": [arrival time
of each output chunk (s)], "n": [tokens in each chunk], "completion_tokens": total, "error": ""}.
"""
import datetime
import os
import random
import shutil
import statistics

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def default_model():
    return os.environ.get("LMD_MODEL_PATH") or os.path.expanduser(
        "~/.cache/lmdeploy/SmolLM2-135M-Instruct.Q4_1.gguf")


def default_binary():
    b = os.environ.get("LMD_BINARY")
    if b:
        return b
    local = os.path.join(ROOT, "build", "bin", "lmdeploy")
    return local if os.path.exists(local) else (shutil.which("lmdeploy") or local)


def machine():
    """(cpu model, [simd flags of interest], logical cores)."""
    cpu, flags = "?", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and cpu == "?":
                    cpu = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    wanted = ["avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni", "avx512_bf16"]
    return cpu, [f for f in wanted if f in flags], os.cpu_count() or 0


def header(tool, argv):
    """The lines every figure needs: date, machine, load, command."""
    cpu, simd, ncpu = machine()
    lines = ["# %s  %s" % (tool, datetime.datetime.now().strftime("%Y-%m-%d %H:%M")),
             "machine: %s, %s cores, SIMD: %s" % (cpu, ncpu, " ".join(simd))]
    try:
        with open("/proc/loadavg") as f:
            lines.append("load average: %s" % " ".join(f.read().split()[:3]))
    except OSError:
        pass
    lines.append("command: %s" % " ".join([os.path.relpath(argv[0])] + list(argv[1:])))
    return "\n".join(lines)


# ------------------------------------------------------------------ request lengths
# Conversation-like lengths: lognormal, which fits the heavy right tail of chat datasets
# (ShareGPT's first-turn prompts and answers: most are short, a few are very long; median
# well below mean). We have no dataset on this machine, so the parameters are a stand-in
# with that shape, scaled to a 135M model on 2 cores:
#   prompt     ~ lognormal(median 96 tokens, sigma 1.0), clipped to [4, 1024]
#   completion ~ lognormal(median 96 tokens, sigma 0.7), clipped to [4, 512]
# (for sigma 1.0 the mean is 1.65x the median and 5% of prompts exceed ~5x the median).
# --prompt-median/--completion-median/--sigma flags rescale it; the seed fixes the draw.
PROMPT_MEDIAN, PROMPT_SIGMA, PROMPT_CLIP = 96, 1.0, (4, 1024)
COMPLETION_MEDIAN, COMPLETION_SIGMA, COMPLETION_CLIP = 96, 0.7, (4, 512)


def sample_lengths(n, seed=0, prompt_median=PROMPT_MEDIAN, prompt_sigma=PROMPT_SIGMA, prompt_clip=PROMPT_CLIP,
                   completion_median=COMPLETION_MEDIAN, completion_sigma=COMPLETION_SIGMA,
                   completion_clip=COMPLETION_CLIP):
    """n (prompt_tokens, completion_tokens) pairs, deterministic for a seed."""
    import math
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        p = int(round(rng.lognormvariate(math.log(prompt_median), prompt_sigma)))
        c = int(round(rng.lognormvariate(math.log(completion_median), completion_sigma)))
        out.append((min(max(p, prompt_clip[0]), prompt_clip[1]),
                    min(max(c, completion_clip[0]), completion_clip[1])))
    return out


# ------------------------------------------------------------------ metrics
def percentile(xs, q):
    """Linear-interpolated percentile (q in [0, 100]) of a non-empty list."""
    s = sorted(xs)
    if not s:
        return None
    k = (len(s) - 1) * q / 100.0
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def request_metrics(r):
    """(ttft, tpot or None, [itl...], output tokens, end time) of one timeline."""
    if not r["t"]:
        return None, None, [], 0, r["start"]
    ttft = r["t"][0] - r["start"]
    n_out = r.get("completion_tokens") or sum(r["n"])
    e2e = r["t"][-1] - r["start"]
    tpot = (e2e - ttft) / (n_out - 1) if n_out > 1 else None
    itl = [b - a for a, b in zip(r["t"], r["t"][1:])]
    return ttft, tpot, itl, n_out, r["t"][-1]


def serving_metrics(timelines, duration):
    """vLLM/lmdeploy serving-benchmark metrics (seconds) over finished requests."""
    ok = [r for r in timelines if not r.get("error") and r["t"]]
    ttft, tpot, itl, n_out, n_in = [], [], [], 0, 0
    for r in ok:
        a, b, c, n, _ = request_metrics(r)
        ttft.append(a)
        if b is not None:
            tpot.append(b)
        itl += c
        n_out += n
        n_in += r["prompt"]

    def trio(xs):
        return {"mean": statistics.fmean(xs) if xs else None, "median": percentile(xs, 50) if xs else None,
                "p99": percentile(xs, 99) if xs else None}
    return {"requests": len(timelines), "completed": len(ok), "failed": len(timelines) - len(ok),
            "duration_s": duration, "input_tokens": n_in, "output_tokens": n_out,
            "request_throughput": len(ok) / duration if duration > 0 else None,
            "input_throughput": n_in / duration if duration > 0 else None,
            "output_throughput": n_out / duration if duration > 0 else None,
            "ttft": trio(ttft), "tpot": trio(tpot), "itl": trio(itl)}


def print_serving(m, backend, concurrency, out):
    def ms(x):
        return "-" if x is None else "%.2f" % (1000.0 * x)

    def num(x, nd=2):
        return "-" if x is None else "%.*f" % (nd, x)
    w = 41
    lines = ["{:=^50}".format(" Serving Benchmark Result "),
             "%-*s%s" % (w, "Backend:", backend),
             "%-*s%d" % (w, "Max concurrency:", concurrency),
             "%-*s%d" % (w, "Successful requests:", m["completed"]),
             "%-*s%d" % (w, "Failed requests:", m["failed"]),
             "%-*s%s" % (w, "Benchmark duration (s):", num(m["duration_s"])),
             "%-*s%d" % (w, "Total input tokens:", m["input_tokens"]),
             "%-*s%d" % (w, "Total generated tokens:", m["output_tokens"]),
             "%-*s%s" % (w, "Request throughput (req/s):", num(m["request_throughput"], 3)),
             "%-*s%s" % (w, "Input token throughput (tok/s):", num(m["input_throughput"])),
             "%-*s%s" % (w, "Output token throughput (tok/s):", num(m["output_throughput"]))]
    for key, title, name in (("ttft", "Time to First Token", "TTFT"),
                             ("tpot", "Time per Output Token (excl. 1st token)", "TPOT"),
                             ("itl", "Inter-token Latency", "ITL")):
        lines.append("{:-^50}".format(title))
        for stat, label in (("mean", "Mean"), ("median", "Median"), ("p99", "P99")):
            lines.append("%-*s%s" % (w, "%s %s (ms):" % (label, name), ms(m[key][stat])))
    lines.append("=" * 50)
    print("\n".join(lines), file=out, flush=True)
