#!/usr/bin/env python3
"""Ours vs llama.cpp on the same GGUF and thread count, in one run; prints a ratio table.

  python3 tools/compare_peers.py [--model GGUF] [--lmdeploy build/bin/lmdeploy] [--threads 2]
                                 [--pp 512] [--tg 128] [--seqs 8,32,64] [--prompt 128] [--gen 128]
                                 [--reps 2] [--isa avx512|avx2|...] [--json out.json]

Figures (the same shapes on all sides, token ids fixed, no sampling):
  prefill  : one sequence of --pp tokens in one step / llama_decode (llama-bench pp512);
  decode 1 : --tg single-token steps from an empty cache (llama-bench tg128);
  seqs N   : N sequences of --prompt tokens prefilled, then --gen steps decoding all N together;
             aggregate decode tok/s = N * gen / decode time (llama.cpp batched-bench S_TG).
Ours runs `lmdeploy bench_peers` (Model::forward, the engine's compute path, without the
scheduler). llama.cpp: prefill / decode 1 through llama-cpp-python's low-level API; the N
sequences figure from llama.cpp's own `llama-batched-bench` (S_TG) when
tools/build_llama_batched_bench.sh has built it from the llama-cpp-python sdist (cached in
build/peers/bin/), else through llama-cpp-python (llama_batch with one seq id per token, as
batched-bench does), and the table says which. Extra rows: ours on the AVX2-only path
(LMDEPLOY_CPU_ISA=avx2; --no-avx2 skips them). HF transformers + torch on CPU with --hf-dir
(an HF export of the same model) when both import; otherwise a note (PyPI's torch for
x86-64 Linux is the multi-GB CUDA build; see docs/benchmarks.md). Each side runs in its own
child process; peak RSS is that child's ru_maxrss. The roofline line: weight bytes streamed
per batch-1 decode step / measured read bandwidth = the fastest possible batch-1 decode.
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


def default_batched_bench():
    b = os.path.join(HERE, "..", "build", "peers", "bin", "llama-batched-bench")
    return os.path.normpath(b)


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


# ---------------------------------------------------------------- llama-batched-bench
def run_batched_bench(a, seq_list):
    """llama.cpp's own parallel-sequence benchmark: {N: S_TG}, peak RSS; None when absent."""
    b = a.batched_bench
    if not b or not os.path.exists(b):
        return None, "llama-batched-bench not built (bash tools/build_llama_batched_bench.sh): " \
                     "aggregate decode through llama-cpp-python"
    ns = [int(x) for x in seq_list.split(",") if x]
    if not ns:
        return None, ""
    cmd = [b, "-m", a.model, "-c", str(max(ns) * (a.prompt + a.gen) + 16), "-b", "2048", "-ub", "512",
           "-npp", str(a.prompt), "-ntg", str(a.gen), "-npl", ",".join(str(n) for n in ns),
           "-t", str(a.threads), "-tb", str(a.threads), "--output-format", "jsonl"]
    out, err, rc, rss = run_measured(cmd)
    if rc != 0:
        return None, "llama-batched-bench failed (rc %d): %s; aggregate decode through llama-cpp-python" % (
            rc, err.strip()[-300:])
    res = {}
    for line in (out + "\n" + err).splitlines():
        line = line.strip()
        if line.startswith("{") and "speed_tg" in line:
            r = json.loads(line)
            res[str(r["pl"])] = r["speed_tg"]
    if not res:
        return None, "llama-batched-bench printed no JSONL rows; aggregate decode through llama-cpp-python"
    return {"batched": res, "peak_rss_mib": rss, "command": " ".join(cmd)}, \
        "aggregate decode: llama-batched-bench S_TG (%s)" % os.path.relpath(b)


# ---------------------------------------------------------------- HF transformers worker
def hf_worker(a):
    """The same figures with transformers + torch on CPU (fp32), from an HF directory."""
    import torch
    import transformers

    torch.set_num_threads(a.threads)
    try:  # `dtype` since transformers 4.56; `torch_dtype` before
        m = transformers.AutoModelForCausalLM.from_pretrained(a.hf_dir, dtype=torch.float32)
    except TypeError:
        m = transformers.AutoModelForCausalLM.from_pretrained(a.hf_dir, torch_dtype=torch.float32)
    m.eval()
    vocab = m.config.vocab_size

    def ids(n_seq, n, off):
        return torch.tensor([[(i * 7919 + 13 + off + 131 * s) % vocab for i in range(n)] for s in range(n_seq)])

    res = {"engine": "transformers", "version": "%s / torch %s" % (transformers.__version__, torch.__version__),
           "threads": a.threads, "batched": {}, "batched_cpu": {}}
    seqs = [int(x) for x in a.seqs.split(",") if x.strip()]
    with torch.inference_mode():
        if a.pp > 0:
            best, cbest = 1e30, 1e30
            for r in range(a.reps + 1):
                t0, c0 = time.perf_counter(), time.process_time()
                m(input_ids=ids(1, a.pp, 0), use_cache=True)
                if r > 0:
                    best, cbest = min(best, time.perf_counter() - t0), min(cbest, time.process_time() - c0)
            res["pp_tok_s"], res["pp_tok_cpu_s"] = a.pp / best, a.pp / cbest

        def gen(n_seq, prompt, steps):
            past = None
            if prompt > 0:
                past = m(input_ids=ids(n_seq, prompt, 1), use_cache=True).past_key_values
            t0, c0 = time.perf_counter(), time.process_time()
            for i in range(steps):
                past = m(input_ids=ids(n_seq, 1, 17 * i), past_key_values=past, use_cache=True).past_key_values
            return time.perf_counter() - t0, time.process_time() - c0

        if a.tg > 0:
            w, c = min(gen(1, 0, a.tg) for _ in range(a.reps))
            res["tg_tok_s"], res["tg_tok_cpu_s"] = a.tg / w, a.tg / c
        for n in seqs:
            w, c = min(gen(n, a.prompt, a.gen) for _ in range(a.reps))
            res["batched"][str(n)], res["batched_cpu"][str(n)] = n * a.gen / w, n * a.gen / c
    print(json.dumps(res), flush=True)


def hf_available():
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
        return True, ""
    except Exception as e:  # noqa: BLE001 - report whatever prevents the import
        return False, "%s: %s" % (type(e).__name__, e)


# ---------------------------------------------------------------- driver
def fmt(x, nd=1):
    return "-" if x is None else ("%.*f" % (nd, x))


def ratio(a, b):
    return None if not a or not b else a / b


def run_ours(a, seq_list, isa):
    env = dict(os.environ)
    if isa:
        env["LMDEPLOY_CPU_ISA"] = isa
    cmd = [a.lmdeploy, "bench_peers", a.model, "--threads", str(a.threads), "--pp", str(a.pp),
           "--tg", str(a.tg), "--seqs", seq_list.replace(",", " "), "--prompt", str(a.prompt),
           "--gen", str(a.gen), "--reps", str(a.reps)] + (["--exact"] if a.exact else [])
    out, err, rc, rss = run_measured(cmd, env)
    if rc != 0:
        print("ours (isa %s) failed (rc %d): %s" % (isa or "auto", rc, err.strip()[-500:]))
        return None
    r = last_json(out)
    r["peak_rss_mib"] = rss
    return r


def print_table(title_cols, rows, cpu):
    """rows: (label, ours dict, peer dict, key, sub); cpu: the per-CPU-second variant."""
    def get(d, key, sub):
        if not d:
            return None
        if cpu and key != "peak_rss_mib":
            key = key + "_cpu" if sub is not None else key.replace("_tok_s", "_tok_cpu_s")
        v = d.get(key)
        return v.get(sub) if sub is not None and isinstance(v, dict) else (None if sub is not None else v)

    print("| %-50s | %10s | %10s | %8s |" % title_cols)
    print("|%s|%s|%s|%s|" % ("-" * 52, "-" * 12, "-" * 12, "-" * 10))
    for label, o_d, p_d, key, sub in rows:
        if cpu and key == "peak_rss_mib":
            continue
        o, p = get(o_d, key, sub), get(p_d, key, sub)
        nd = 0 if key == "peak_rss_mib" else 1
        if cpu:
            label = label.replace("tok/s", "tok/CPU-s")
        print("| %-50s | %10s | %10s | %8s |" % (label, fmt(o, nd), fmt(p, nd),
                                                fmt(ratio(o, p), 2) + ("x" if o and p else "")))


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
    ap.add_argument("--no-avx2", action="store_true", help="skip the extra rows of ours on the AVX2-only path")
    ap.add_argument("--exact", action="store_true", help="ours on the exact (fp32 activation) path")
    ap.add_argument("--skip-llama", action="store_true")
    ap.add_argument("--batched-bench", default=default_batched_bench(),
                    help="llama-batched-bench binary (tools/build_llama_batched_bench.sh; '' = use llama-cpp-python)")
    ap.add_argument("--hf-dir", default="", help="HF export of the same model for transformers + torch (optional)")
    ap.add_argument("--membw-mib", type=int, default=256, help="bandwidth probe buffer (0 = skip)")
    ap.add_argument("--json", default="", help="also write all results to this file")
    ap.add_argument("--llama-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--hf-worker", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.llama_worker:
        return llama_worker(a)
    if a.hf_worker:
        return hf_worker(a)

    cpu, simd, ncpu = machine()
    cmdline = " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:])
    print("# compare_peers  %s" % datetime.datetime.now().strftime("%Y-%m-%d %H:%M"))
    print("machine: %s, %s cores, SIMD: %s; threads: %d" % (cpu, ncpu, " ".join(simd), a.threads))
    try:
        print("load average: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    except OSError:
        pass
    print("model: %s" % a.model)
    print("command: %s" % cmdline, flush=True)

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

    ours = run_ours(a, seq_list, a.isa)
    results["ours"] = ours
    ours_avx2 = None
    if not a.no_avx2 and a.isa != "avx2" and ours and ours.get("isa") not in ("avx2", "scalar") \
            and "avx2" in simd:
        ours_avx2 = run_ours(a, seq_list, "avx2")
    results["ours_avx2"] = ours_avx2

    peer, notes = None, []
    if not a.skip_llama:
        try:
            import llama_cpp  # noqa: F401
            have = True
        except Exception as e:  # noqa: BLE001 - report whatever prevents the import
            print("llama-cpp-python not importable: %s" % e)
            have = False
        bb, note = run_batched_bench(a, seq_list) if a.batched_bench else (
            None, "aggregate decode through llama-cpp-python (--batched-bench '')")
        if note:
            notes.append("llama.cpp " + note)
        results["llama_batched_bench"] = bb
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
        if bb:
            # Wall-clock aggregate decode from llama.cpp's own benchmark; the per-CPU-second
            # table keeps the llama-cpp-python figures (batched-bench reports no CPU time).
            peer = dict(peer or {})
            peer["batched_python"] = peer.get("batched")
            peer["batched"] = bb["batched"]
    results["llama_cpp"] = peer

    hf = None
    ok, why = hf_available()
    if ok and a.hf_dir:
        wcmd = [sys.executable, os.path.abspath(__file__), "--hf-worker", "--hf-dir", a.hf_dir,
                "--threads", str(a.threads), "--pp", str(a.pp), "--tg", str(a.tg), "--seqs", seq_list,
                "--prompt", str(a.prompt), "--gen", str(a.gen), "--reps", str(a.reps)]
        out, err, rc, rss = run_measured(wcmd)
        if rc == 0:
            hf = last_json(out)
            hf["peak_rss_mib"] = rss
        else:
            notes.append("HF transformers worker failed (rc %d): %s" % (rc, err.strip()[-300:]))
    elif ok:
        notes.append("HF transformers + torch: importable; pass --hf-dir (an HF export of the model, e.g. "
                     "$LMD_TEST_MODELS/smollm2-hf) to measure them")
    else:
        notes.append("HF transformers + torch: not measured (%s; PyPI's torch for x86-64 Linux is the CUDA "
                     "build with its nvidia-* wheels, several GB: see docs/benchmarks.md)" % why)
    results["transformers"] = hf

    if peer:
        print("llama.cpp: llama-cpp-python %s; %s" % (peer.get("version"), peer.get("system_info")))
    if ours:
        print("ours: lmdeploy bench_peers, isa %s, exact %s, kv %s" % (ours["isa"], ours["exact"], ours["kv"]))
    if hf:
        print("transformers: %s (fp32)" % hf["version"])
    for n in notes:
        print("note: " + n)

    # weights streamed per batch-1 decode step: every linear's packed bytes (see docs/benchmarks.md)
    wbytes = weight_bytes(a.model)
    results["weight_bytes_per_step"] = wbytes

    figs = [("prefill %d (tok/s)" % a.pp, "pp_tok_s", None), ("decode batch 1 (tok/s)", "tg_tok_s", None)]
    for n in seq_list.split(","):
        if n:
            figs.append(("aggregate decode, %s seqs (tok/s)" % n, "batched", n))
    figs.append(("peak RSS (MiB)", "peak_rss_mib", None))
    rows = [(label, ours, peer, key, sub) for label, key, sub in figs]
    if ours_avx2:
        rows += [("[AVX2 path] " + label, ours_avx2, peer, key, sub) for label, key, sub in figs]
    hf_rows = [(label, ours, hf, key, sub) for label, key, sub in figs] if hf else []

    print()
    print_table(("figure", "ours", "llama.cpp", "ratio"), rows, cpu=False)
    print()
    # Tokens per CPU-second of the whole process: robust to other load on the machine, and
    # with --threads 1 a clean efficiency comparison (with more threads, spin-waiting counts).
    print("per CPU-second (tokens / process CPU time; load-robust, exact comparison at --threads 1):")
    cpu_rows = rows
    if peer and peer.get("batched_python") is not None:
        print("(llama.cpp aggregate decode here: llama-cpp-python, same shapes)")
    print_table(("figure", "ours", "llama.cpp", "ratio"), cpu_rows, cpu=True)
    if hf_rows:
        print()
        print_table(("figure", "ours", "transformers", "ratio"), hf_rows, cpu=False)
    print()
    if membw and wbytes:
        roof = membw * 1e9 / wbytes
        line = "roofline: %.1f MB of weights per decode step / %.1f GB/s read bandwidth (%d threads) = %.0f tok/s" % (
            wbytes / 1e6, membw, a.threads, roof)
        tg = ours.get("tg_tok_s") if ours else None
        if tg:
            line += "; ours at batch 1 = %.0f%% of it" % (100 * tg / roof)
        if ours_avx2 and ours_avx2.get("tg_tok_s"):
            line += " (AVX2 path %.0f%%)" % (100 * ours_avx2["tg_tok_s"] / roof)
        ptg = peer.get("tg_tok_s") if peer else None
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
