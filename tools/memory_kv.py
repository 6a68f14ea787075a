#!/usr/bin/env python3
"""The two memory tables of docs/quantization.md (the seed's, for SmolLM2): engine
accounting next to measured peak RSS.

1. KV cache at N concurrent sessions of 2048 tokens, fp16 / int8 / int4 KV: an api_server
   with a pool of exactly N x 2048 tokens (--cache-max-entry-count N*32 blocks of 64) and
   --instance_num N gets N different prompts of ~2024 tokens at once as interactive turns
   (each session keeps its KV after its turn), each generating until its session holds
   ~2047 tokens, so at the end all N sessions hold their tokens together. Accounting: the engine's own start-up line (blocks x
   block bytes). Measured: the server's RSS after the run (VmRSS: the pool is mapped lazily,
   its pages count once written and stay resident), its growth over the idle RSS after
   start-up, and the peak (VmHWM: weight loading's transient copies can set it).
2. Model memory, 16-bit vs 4-bit weights (fp16 KV), one session at context 2048 and 4096:
   accounting = weight bytes in the workspace + the KV pool; measured = RSS after the
   session and peak RSS.

Prefill activations (--max-prefill-token-num 256 tokens per step) are part of every
measured figure, the same for every KV kind, so differences between kinds at one N are KV
memory; the machine may be shared (RSS does not depend on speed).

  python3 tools/memory_kv.py [--binary build/bin/lmdeploy] [--fp16-ws WS] [--w4-ws WS]
      [--sessions "8 16 32 48"] [--kinds "fp16 int8 int4"] [--contexts "2048 4096"] [--skip-kv|--skip-model]

--fp16-ws / --w4-ws default to the workspaces tools/quant_quality.py leaves in
build/quant-quality (ws, ws_awq).
"""
import argparse
import concurrent.futures as cf
import json
import re
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quant_server import Server  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BLOCK = 64
POLICY = {"fp16": "0", "int8": "8", "int4": "int4"}
MIB = 1048576.0
MAX_PREFILL = 256  # prefill tokens per step: keeps the activations' share of the peak small


def corpus():
    d = Path("/usr/share/common-licenses")
    return "\n\n".join(p.read_text(errors="replace") for p in sorted(d.iterdir()) if p.is_file())


def prompts(server, n, tokens):
    """n prompts from different places of the corpus, each encoding to <= `tokens` ids
    (and close to it)."""
    text = corpus()
    out, pos = [], 0
    chars = tokens * 4
    while len(out) < n:
        chunk = (text + text)[pos:pos + chars]
        k = len(server.encode(chunk))
        while k > tokens:
            chunk = chunk[:int(len(chunk) * tokens / k) - 8]
            k = len(server.encode(chunk))
        out.append((chunk, k))
        pos = (pos + 7919 * (len(out) + 1)) % len(text)
    return out


def pool_line(log):
    m = re.search(r"KV pool (\d+) blocks x (\d+) tokens = (\d+) tokens, ([\d.]+) MiB", Path(log).read_text())
    if not m:
        raise RuntimeError(f"no 'KV pool' line in {log}")
    return int(m.group(1)), float(m.group(4))


def fill(server, n, session, prompts_):
    """n concurrent interactive turns (sessions 1..n, interactive_mode: each session keeps its
    KV after its turn), so all n sessions hold their tokens at once at the end; returns the
    tokens each session holds."""
    def one(i):
        text, _ = prompts_[i]
        # no max_tokens: the server generates until the session is full
        r = server.post("/v1/chat/interactive", {"session_id": i + 1, "prompt": text, "interactive_mode": True,
                                                 "temperature": 0, "ignore_eos": True})
        return r["history_tokens"] + r["input_tokens"] + r["tokens"]
    with cf.ThreadPoolExecutor(n) as ex:
        return list(ex.map(one, range(n)))


def measure(binary, model, kv, sessions, session_len, logdir, tag):
    log = Path(logdir) / f"{tag}.log"
    blocks = sessions * ((session_len + BLOCK - 1) // BLOCK)
    t0 = time.time()
    with Server(binary, model, "--quant-policy", POLICY[kv], "--session-len", session_len, "--instance_num", sessions,
                "--cache-max-entry-count", blocks, "--max-prefill-token-num", MAX_PREFILL, "--log_level", "info",
                log=log) as s:
        idle = s.rss_kib()
        ps = prompts(s, sessions, session_len - 24)  # room for the chat template's tokens
        used = fill(s, sessions, session_len, ps)
        after = s.rss_kib()  # written KV pages stay resident after the requests end
        peak = s.peak_rss_kib()
    nblocks, pool_mib = pool_line(log)
    assert nblocks == blocks, (nblocks, blocks)
    print(f"  {tag}: pool {pool_mib:.1f} MiB, idle {idle / 1024:.0f} MiB, after {after / 1024:.0f} MiB, "
          f"peak {peak / 1024:.0f} MiB, "
          f"tokens/session {min(used)}..{max(used)}, {time.time() - t0:.0f} s", file=sys.stderr)
    return {"pool": pool_mib, "idle": idle / 1024, "after": after / 1024, "peak": peak / 1024, "tokens": sum(used)}


def f16_workspace(binary, hf, dst):
    """A 16-bit workspace from an HF folder whose weights may be fp32 (our HF export of the
    GGUF is): every F32 tensor cast to F16 with numpy, then `convert`."""
    import numpy as np
    dst = Path(dst)
    if (dst / "ws" / "triton_models" / "weights" / "config.ini").exists():
        return dst / "ws"
    src, hf16 = Path(hf), dst / "hf16"
    hf16.mkdir(parents=True, exist_ok=True)
    raw = (src / "model.safetensors").read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out_header, blobs, off = {}, [], 0
    for name, info in header.items():
        if name == "__metadata__":
            out_header[name] = info
            continue
        a, b = info["data_offsets"]
        data = raw[8 + n + a:8 + n + b]
        if info["dtype"] == "F32":
            data = np.frombuffer(data, dtype=np.float32).astype(np.float16).tobytes()
            info = {**info, "dtype": "F16"}
        out_header[name] = {**info, "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = json.dumps(out_header).encode()
    h += b" " * (-len(h) % 8)
    with open(hf16 / "model.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for blob in blobs:
            f.write(blob)
    for p in src.iterdir():
        if p.is_file() and p.name != "model.safetensors":
            shutil.copy(p, hf16 / p.name)
    cfg = json.loads((hf16 / "config.json").read_text())
    cfg["torch_dtype"] = "float16"
    (hf16 / "config.json").write_text(json.dumps(cfg, indent=2))
    subprocess.run([str(binary), "convert", "smollm", str(hf16), "--dst_path", str(dst / "ws")], check=True,
                   capture_output=True)
    return dst / "ws"


def weights_mib(ws):
    d = Path(ws) / "triton_models" / "weights"
    return sum(p.stat().st_size for p in d.iterdir() if p.is_file() and p.name != "config.ini") / MIB


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", default=str(ROOT / "build" / "bin" / "lmdeploy"))
    ap.add_argument("--fp16-ws", default=str(ROOT / "build" / "quant-quality" / "ws"),
                    help="workspace for the KV table (its weight type only shifts the idle RSS)")
    ap.add_argument("--hf", default=str(ROOT / "build" / "test-models" / "smollm2-hf"),
                    help="HF folder cast to a 16-bit workspace for the model-memory table")
    ap.add_argument("--w4-ws", default=str(ROOT / "build" / "quant-quality" / "ws_awq"))
    ap.add_argument("--sessions", default="8 16 32 48")
    ap.add_argument("--kinds", default="fp16 int8 int4")
    ap.add_argument("--contexts", default="2048 4096")
    ap.add_argument("--logs", default="/tmp/memory_kv_logs")
    ap.add_argument("--skip-kv", action="store_true")
    ap.add_argument("--skip-model", action="store_true")
    a = ap.parse_args()
    Path(a.logs).mkdir(parents=True, exist_ok=True)
    for ws in (a.fp16_ws, a.w4_ws):
        if not Path(ws, "triton_models", "weights", "config.ini").exists():
            sys.exit(f"{ws}: not a workspace; run tools/quant_quality.py first (or pass --fp16-ws / --w4-ws)")
    sessions = [int(x) for x in a.sessions.split()]
    kinds = a.kinds.split()

    if not a.skip_kv:
        res = {(n, k): measure(a.binary, a.fp16_ws, k, n, 2048, a.logs, f"kv_{k}_{n}") for n in sessions for k in kinds}
        print("\nKV cache, N sessions x 2048 tokens (16-bit weights). Accounting: the engine's KV pool "
              "(blocks x block bytes); measured: server RSS after the run / its growth over idle / peak RSS\n")
        head = " | ".join(f"{k} KV (MiB)" for k in kinds)
        meas = " | ".join(f"{k} RSS / growth / peak (MiB)" for k in kinds)
        print(f"| sessions | {head} | {meas} |")
        print("|---:|" + "---:|" * (2 * len(kinds)))
        for n in sessions:
            acc = " | ".join(f"{res[n, k]['pool']:.1f}" for k in kinds)
            mea = " | ".join(f"{res[n, k]['after']:.0f} / {res[n, k]['after'] - res[n, k]['idle']:.0f} / "
                             f"{res[n, k]['peak']:.0f}" for k in kinds)
            print(f"| {n} | {acc} | {mea} |")

    if not a.skip_model:
        ctxs = [int(x) for x in a.contexts.split()]
        res = {}
        ws16 = f16_workspace(a.binary, a.hf, Path(a.logs) / "f16")
        for label, ws in (("16-bit (fp16)", ws16), ("4-bit (AWQ int4)", a.w4_ws)):
            for c in ctxs:
                res[label, c] = measure(a.binary, ws, "fp16", 1, c, a.logs, f"model_{Path(ws).name}_{c}")
                res[label, c]["weights"] = weights_mib(ws)
        print("\nModel memory, one session, fp16 KV. Accounting: weight files + KV pool; measured: RSS after the session, peak RSS\n")
        print("| weights | context | weights (MiB) | KV pool (MiB) | accounting (MiB) | RSS after (MiB) | peak RSS (MiB) |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for (label, c), r in res.items():
            print(f"| {label} | {c} | {r['weights']:.1f} | {r['pool']:.1f} | {r['weights'] + r['pool']:.1f} | "
                  f"{r['after']:.0f} | {r['peak']:.0f} |")


if __name__ == "__main__":
    main()
