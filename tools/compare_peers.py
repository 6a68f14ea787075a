#!/usr/bin/env python3
"""Ours vs llama.cpp on the same GGUF and thread count, in one run; prints a ratio table.

  python3 tools/compare_peers.py [--model GGUF] [--lmdeploy build/bin/lmdeploy] [--threads 2]
                                 [--pp 512] [--tg 128] [--seqs 8,32,64] [--prompt 128] [--gen 128]
                                 [--reps 2] [--isa avx512|avx2|...] [--json out.json]

Figures (the same shapes on both sides, token ids fixed, no sampling):
  prefill  : one sequence of --pp tokens in one step / llama_decode (llama-bench pp512);
  decode 1 : --tg single-token steps from an empty cache (llama-bench tg128);
  seqs N   : N sequences of --prompt tokens prefilled, then --gen steps decoding all N together;
             aggregate decode tok/s = N * gen / decode time (llama.cpp batched-bench S_TG).
Ours runs `lmdeploy bench_peers` (Model::forward, the engine's compute path, without the
scheduler). llama.cpp runs through llama-cpp-python's low-level API (llama_batch with one
seq id per token, as batched-bench does). Each side runs in its own child process; peak RSS
is that child's ru_maxrss. HF transformers is not measured (torch is not installed here).
Never fails on a speed figure: it is a measuring tool (CI runs it on tiny settings).
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def default_model():
    return os.environ.get("LMD_MODEL_PATH") or os.path.expanduser(
        "~/.cache/lmdeploy/SmolLM2-135M-Instruct.Q4_1.gguf")


def default_binary():
    for c in (os.environ.get("LMD_BINARY"), os.path.join(HERE, "..", "build", "bin", "lmdeploy")):
        if c and os.path.exists(c):
            return c
    return "lmdeploy"


def machine():
    cpu, flags = platform.processor() or "?", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and cpu in ("?", "", "x86_64"):
                    cpu = line.split(":", 1)[1].strip()
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    simd = [x for x in ("avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni",
                        "avx512_bf16") if x in flags]
    return cpu, simd, os.cpu_count()


def run_measured(cmd, env=None):
    """Runs cmd in a child and returns (stdout, stderr, rc, peak_rss_mib)."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    import threading
    bufs = {}

    def pump(name, stream):
        bufs[name] = stream.read()

    ts = [threading.Thread(target=pump, args=(k, s)) for k, s in (("out", p.stdout), ("err", p.stderr))]
    for t in ts:
        t.start()
    _, status, ru = os.wait4(p.pid, 0)
    for t in ts:
        t.join()
    p.returncode = os.waitstatus_to_exitcode(status)
    return bufs["out"].decode(), bufs["err"].decode(), p.returncode, ru.ru_maxrss / 1024.0


def last_json(text):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("no JSON line in output")


# ---------------------------------------------------------------- llama.cpp worker
def llama_worker(a):
    import ctypes
    import llama_cpp as L

    L.llama_backend_init()
    mp = L.llama_model_default_params()
    model = L.llama_model_load_from_file(a.model.encode(), mp)
    if not model:
        raise SystemExit("llama.cpp could not load " + a.model)
    vocab_n = L.llama_vocab_n_tokens(L.llama_model_get_vocab(model))
    seqs = [int(x) for x in a.seqs.split(",") if x.strip()]

    def make_ctx(n_ctx, n_batch, n_seq):
        cp = L.llama_context_default_params()
        cp.n_ctx = n_ctx
        cp.n_batch = n_batch
        cp.n_ubatch = min(n_batch, 512)
        cp.n_seq_max = n_seq
        cp.n_threads = a.threads
        cp.n_threads_batch = a.threads
        cp.no_perf = True
        ctx = L.llama_init_from_model(model, cp)
        if not ctx:
            raise SystemExit("llama.cpp: cannot create a context (n_ctx %d, n_seq %d)" % (n_ctx, n_seq))
        return ctx

    def tok(i):
        return (i * 7919 + 13) % vocab_n

    def decode(ctx, batch, entries):
        """entries: list of (token, pos, seq, want_logits); decoded in n_batch-sized chunks."""
        cap = a._cap
        for c0 in range(0, len(entries), cap):
            chunk = entries[c0:c0 + cap]
            batch.n_tokens = len(chunk)
            for i, (t, pos, s, lg) in enumerate(chunk):
                batch.token[i] = t
                batch.pos[i] = pos
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = s
                batch.logits[i] = 1 if lg else 0
            rc = L.llama_decode(ctx, batch)
            if rc != 0:
                raise SystemExit("llama_decode failed: %d" % rc)
        L.llama_synchronize(ctx)

    res = {"engine": "llama.cpp", "version": getattr(L, "__version__", "?"),
           "system_info": L.llama_print_system_info().decode(errors="replace").strip(),
           "threads": a.threads, "pp": a.pp, "tg": a.tg, "prompt": a.prompt, "gen": a.gen}
    # pp / tg: one sequence.
    n_ctx1 = max(a.pp, a.tg, 16)
    a._cap = max(a.pp, 1)
    ctx = make_ctx(n_ctx1, max(a.pp, 1), 1)
    batch = L.llama_batch_init(max(a.pp, 1), 0, 1)
    mem = L.llama_get_memory(ctx)
    if a.pp > 0:
        best, cbest = 1e30, 1e30
        for r in range(a.reps + 1):
            L.llama_memory_clear(mem, True)
            entries = [(tok(i), i, 0, i == a.pp - 1) for i in range(a.pp)]
            t0, c0 = time.perf_counter(), time.process_time()
            decode(ctx, batch, entries)
            if r > 0:
                best = min(best, time.perf_counter() - t0)
                cbest = min(cbest, time.process_time() - c0)
        res["pp_tok_s"] = a.pp / best
        res["pp_tok_cpu_s"] = a.pp / cbest
    if a.tg > 0:
        best, cbest = 1e30, 1e30
        for r in range(a.reps):
            L.llama_memory_clear(mem, True)
            t0, c0 = time.perf_counter(), time.process_time()
            for i in range(a.tg):
                decode(ctx, batch, [(tok(17 * i), i, 0, True)])
            best = min(best, time.perf_counter() - t0)
            cbest = min(cbest, time.process_time() - c0)
        res["tg_tok_s"] = a.tg / best
        res["tg_tok_cpu_s"] = a.tg / cbest
    L.llama_batch_free(batch)
    L.llama_free(ctx)
    res["batched"], res["batched_cpu"] = {}, {}
    for n in seqs:
        cap = 2048
        a._cap = cap
        ctx = make_ctx(n * (a.prompt + a.gen), cap, n)
        batch = L.llama_batch_init(cap, 0, 1)
        mem = L.llama_get_memory(ctx)
        best, cbest = 1e30, 1e30
        for r in range(a.reps):
            L.llama_memory_clear(mem, True)
            prompt = [(tok(s * 131 + i), i, s, i == a.prompt - 1) for s in range(n) for i in range(a.prompt)]
            if prompt:
                decode(ctx, batch, prompt)
            t0, c0 = time.perf_counter(), time.process_time()
            for step in range(a.gen):
                decode(ctx, batch, [(tok(step * 17 + s), a.prompt + step, s, True) for s in range(n)])
            best = min(best, time.perf_counter() - t0)
            cbest = min(cbest, time.process_time() - c0)
        res["batched"][str(n)] = n * a.gen / best
        res["batched_cpu"][str(n)] = n * a.gen / cbest
        L.llama_batch_free(batch)
        L.llama_free(ctx)
        print(json.dumps({"progress": n}), file=sys.stderr, flush=True)
    L.llama_model_free(model)
    print(json.dumps(res), flush=True)


# ---------------------------------------------------------------- driver
def fmt(x, nd=1):
    return "-" if x is None else ("%.*f" % (nd, x))


def ratio(a, b):
    return None if not a or not b else a / b


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=default_model())
    ap.add_argument("--lmdeploy", default=default_binary())
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pp", type=int, default=512)
    ap.add_argument("--tg", type=int, default=128)
    ap.add_argument("--seqs", default="8,32,64")
    ap.add_argument("--prompt", type=int, default=128)
    ap.add_argument("--gen", type=int, default=128)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--isa", default="", help="LMDEPLOY_CPU_ISA for ours (avx2 / avx512 / scalar)")
    ap.add_argument("--exact", action="store_true", help="ours on the exact (fp32 activation) path")
    ap.add_argument("--skip-llama", action="store_true")
    ap.add_argument("--membw-mib", type=int, default=256, help="bandwidth probe buffer (0 = skip)")
    ap.add_argument("--json", default="", help="also write all results to this file")
    ap.add_argument("--llama-worker", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.llama_worker:
        return llama_worker(a)

    cpu, simd, ncpu = machine()
    cmdline = " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:])
    print("# compare_peers  %s" % datetime.datetime.now().strftime("%Y-%m-%d %H:%M"))
    print("machine: %s, %s cores, SIMD: %s; threads: %d" % (cpu, ncpu, " ".join(simd), a.threads))
    try:
        print("load average: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    except OSError:
        pass
    print("model: %s" % a.model)
    print("command: %s" % cmdline)

    results = {"machine": {"cpu": cpu, "simd": simd, "cores": ncpu}, "threads": a.threads,
               "date": datetime.datetime.now().isoformat(timespec="seconds"), "command": cmdline}
    seq_list = ",".join(x.strip() for x in a.seqs.split(",") if x.strip())

    membw = None
    if a.membw_mib > 0:
        out, err, rc, _ = run_measured([a.lmdeploy, "bench_membw", "--threads", str(a.threads),
                                        "--mib", str(a.membw_mib)])
        if rc == 0:
            membw = last_json(out)["membw_read_gb_s"]
        else:
            print("bench_membw failed: " + err.strip()[-300:])
    results["membw_gb_s"] = membw

    env = dict(os.environ)
    if a.isa:
        env["LMDEPLOY_CPU_ISA"] = a.isa
    ours_cmd = [a.lmdeploy, "bench_peers", a.model, "--threads", str(a.threads), "--pp", str(a.pp),
                "--tg", str(a.tg), "--seqs", seq_list.replace(",", " "), "--prompt", str(a.prompt),
                "--gen", str(a.gen), "--reps", str(a.reps)] + (["--exact"] if a.exact else [])
    out, err, rc, rss = run_measured(ours_cmd, env)
    ours = None
    if rc == 0:
        ours = last_json(out)
        ours["peak_rss_mib"] = rss
    else:
        print("ours failed (rc %d): %s" % (rc, err.strip()[-500:]))
    results["ours"] = ours

    peer = None
    if not a.skip_llama:
        try:
            import llama_cpp  # noqa: F401
            have = True
        except Exception as e:  # noqa: BLE001 - report whatever prevents the import
            print("llama-cpp-python not importable: %s" % e)
            have = False
        if have:
            wcmd = [sys.executable, os.path.abspath(__file__), "--llama-worker", "--model", a.model,
                    "--threads", str(a.threads), "--pp", str(a.pp), "--tg", str(a.tg), "--seqs", seq_list,
                    "--prompt", str(a.prompt), "--gen", str(a.gen), "--reps", str(a.reps)]
            out, err, rc, rss = run_measured(wcmd)
            if rc == 0:
                peer = last_json(out)
                peer["peak_rss_mib"] = rss
            else:
                print("llama.cpp worker failed (rc %d): %s" % (rc, err.strip()[-500:]))
    results["llama_cpp"] = peer
    if peer:
        print("llama.cpp: llama-cpp-python %s; %s" % (peer.get("version"), peer.get("system_info")))
    if ours:
        print("ours: lmdeploy bench_peers, isa %s, exact %s, kv %s" % (ours["isa"], ours["exact"], ours["kv"]))

    # weights streamed per batch-1 decode step: every linear's packed bytes (see docs/benchmarks.md)
    wbytes = weight_bytes(a.model)
    results["weight_bytes_per_step"] = wbytes

    rows = [("prefill %d (tok/s)" % a.pp, "pp_tok_s", None), ("decode batch 1 (tok/s)", "tg_tok_s", None)]
    for n in seq_list.split(","):
        if n:
            rows.append(("aggregate decode, %s seqs (tok/s)" % n, "batched", n))

    def get(d, key, sub):
        if not d:
            return None
        v = d.get(key)
        return v.get(sub) if sub is not None and isinstance(v, dict) else (None if sub is not None else v)

    print()
    print("| %-38s | %10s | %10s | %8s |" % ("figure", "ours", "llama.cpp", "ratio"))
    print("|%s|%s|%s|%s|" % ("-" * 40, "-" * 12, "-" * 12, "-" * 10))
    for label, key, sub in rows:
        o, p = get(ours, key, sub), get(peer, key, sub)
        print("| %-38s | %10s | %10s | %8s |" % (label, fmt(o), fmt(p), fmt(ratio(o, p), 2) + ("x" if o and p else "")))
    o, p = get(ours, "peak_rss_mib", None), get(peer, "peak_rss_mib", None)
    print("| %-38s | %10s | %10s | %8s |" % ("peak RSS (MiB)", fmt(o, 0), fmt(p, 0), fmt(ratio(o, p), 2) + ("x" if o and p else "")))
    print()
    # Tokens per CPU-second of the whole process: robust to other load on the machine, and
    # with --threads 1 a clean efficiency comparison (with more threads, spin-waiting counts).
    print("per CPU-second (tokens / process CPU time; load-robust, exact comparison at --threads 1):")
    print("| %-38s | %10s | %10s | %8s |" % ("figure", "ours", "llama.cpp", "ratio"))
    print("|%s|%s|%s|%s|" % ("-" * 40, "-" * 12, "-" * 12, "-" * 10))
    for label, key, sub in rows:
        ck = key + "_cpu" if sub is not None else key.replace("_tok_s", "_tok_cpu_s")
        o, p = get(ours, ck, sub), get(peer, ck, sub)
        print("| %-38s | %10s | %10s | %8s |" % (label.replace("tok/s", "tok/CPU-s"), fmt(o), fmt(p),
                                                fmt(ratio(o, p), 2) + ("x" if o and p else "")))
    print()
    if membw and wbytes:
        roof = membw * 1e9 / wbytes
        line = "roofline: %.1f MB of weights per decode step / %.1f GB/s read bandwidth (%d threads) = %.0f tok/s" % (
            wbytes / 1e6, membw, a.threads, roof)
        tg = get(ours, "tg_tok_s", None)
        if tg:
            line += "; ours at batch 1 = %.0f%% of it" % (100 * tg / roof)
        ptg = get(peer, "tg_tok_s", None)
        if ptg:
            line += ", llama.cpp %.0f%%" % (100 * ptg / roof)
        print(line)
        results["roofline_tok_s"] = roof
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


def weight_bytes(path):
    """Bytes of the matrices a batch-1 decode step reads: all 2-D tensors except the token
    embedding, plus the output projection (the embedding itself when tied)."""
    try:
        import gguf
    except ImportError:
        return None
    try:
        r = gguf.GGUFReader(path)
    except Exception:  # noqa: BLE001 - not a GGUF: no roofline
        return None
    total, emb, has_out = 0, 0, False
    for t in r.tensors:
        if len(t.shape) < 2:
            continue
        if t.name == "token_embd.weight":
            emb = int(t.n_bytes)
            continue
        has_out = has_out or t.name == "output.weight"
        total += int(t.n_bytes)
    return total + (0 if has_out else emb)


if __name__ == "__main__":
    sys.exit(main())
