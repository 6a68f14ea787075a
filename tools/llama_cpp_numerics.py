#!/usr/bin/env python3
"""Measures how close our fast-path logits are to llama.cpp's on the greedy-parity prompts.

    python3 tools/llama_cpp_numerics.py record [--model GGUF] [--cache FILE]
    python3 tools/llama_cpp_numerics.py compare --binary build/bin/lmdeploy [--numerics llama.cpp]
                                                [--prompts 0,3,5] [--cache FILE]

`record` runs llama.cpp (llama-cpp-python, the oracle; same settings as
tests/python/test_greedy_parity.py: n_ctx 512, 2 threads, no flash attention, f16 KV, the prompt
evaluated one token per llama_decode) greedily for 32 tokens on each prompt and stores the prompt
ids, llama.cpp's tokens and llama.cpp's logits at every generated position in an .npz cache.

`compare` runs `lmdeploy logits --numerics X` teacher-forced over prompt + llama.cpp's tokens and
prints per prompt: the first divergence (with both margins) and the RMS / max |ours - llama.cpp|
of the logits over the 32 positions (absolute, and RMS relative to llama.cpp's logit standard
deviation). With --numerics llama.cpp every position should show max 0 (bit parity,
docs/backend.md "Numerics parity with llama.cpp"); the identical-prompt count is the test's
criterion.
"""

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python"))
from test_greedy_parity import N_NEW, PROMPTS, chatml, llama_decode_greedy  # noqa: E402

DEFAULT_MODEL = os.path.expanduser("~/.cache/lmdeploy/SmolLM2-135M-Instruct.Q4_1.gguf")
DEFAULT_CACHE = "/tmp/llama_cpp_greedy.npz"


def record(args):
    import llama_cpp

    llm = llama_cpp.Llama(model_path=args.model, n_ctx=512, n_threads=2, n_batch=1, n_ubatch=1, logits_all=True,
                          seed=0, flash_attn=False, verbose=False)
    data = {}
    for i, p in enumerate(PROMPTS):
        ids = llm.tokenize(chatml(p).encode(), add_bos=False, special=True)
        out, _ = llama_decode_greedy(llm, ids)
        # llama.cpp's logits at the generated positions: rows len(ids)-1 .. len(ids)+N_NEW-2
        rows = [np.array(llm.scores[len(ids) - 1 + j], dtype=np.float32) for j in range(N_NEW)]
        data[f"ids{i}"] = np.array(ids, dtype=np.int64)
        data[f"out{i}"] = np.array(out, dtype=np.int64)
        data[f"logits{i}"] = np.stack(rows)
    np.savez(args.cache, **data)
    print(f"{args.cache}: {len(PROMPTS)} prompts")


def compare(args):
    cache = np.load(args.cache)
    sel = range(len(PROMPTS)) if not args.prompts else [int(s) for s in args.prompts.split(",")]
    identical, rms_all, max_abs = 0, [], 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for i in sel:
            ids, out, ref = list(cache[f"ids{i}"]), list(cache[f"out{i}"]), cache[f"logits{i}"]
            seq = ids + out
            path = os.path.join(tmp, "l.npy")
            cmd = [args.binary, "logits", args.model, "--tokens", " ".join(map(str, seq)), "--out", path,
                   "--threads", "2", "--numerics", args.numerics] + (args.extra.split() if args.extra else [])
            subprocess.run(cmd, check=True, capture_output=True)
            ours = np.load(path)[len(ids) - 1:len(seq) - 1].astype(np.float64)
            diff = ours - ref
            scale = float(ref.std())
            rms = float(np.sqrt((diff ** 2).mean())) / scale
            mx = float(np.abs(diff).max()) / scale
            max_abs = max(max_abs, float(np.abs(diff).max()))
            rms_all.append(rms)
            am = ours.argmax(axis=1)
            div = next((j for j in range(N_NEW) if am[j] != out[j]), None)
            if div is None:
                identical += 1
                msg = "identical"
            else:
                r, l = ours[div], ref[div].astype(np.float64)
                m_ours = float(r[am[div]] - r[out[div]])
                m_llama = float(np.sort(l)[-1] - np.sort(l)[-2])
                msg = f"diverge@{div} margins ours {m_ours:.4f} llama {m_llama:.4f}"
            print(f"{i:2d} rms {rms:.2e} max {mx:.2e}  {msg}", flush=True)
    print(f"--numerics {args.numerics}: identical {identical}/{len(list(sel))}  mean rms {np.mean(rms_all):.3e}  "
          f"max |logit diff| {max_abs:.3e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=["record", "compare"])
    ap.add_argument("--model", default=os.environ.get("LMD_MODEL_PATH", DEFAULT_MODEL))
    ap.add_argument("--cache", default=DEFAULT_CACHE)
    ap.add_argument("--binary", default="build/bin/lmdeploy")
    ap.add_argument("--prompts", default="", help="comma-separated prompt indices (default all)")
    ap.add_argument("--numerics", default="llama.cpp", choices=["fast", "exact", "llama.cpp"])
    ap.add_argument("--extra", default="", help="extra arguments for `lmdeploy logits`")
    args = ap.parse_args()
    record(args) if args.mode == "record" else compare(args)


if __name__ == "__main__":
    main()
