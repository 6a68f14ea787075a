#!/usr/bin/env python3
"""The quality table of docs/quantization.md in one run: perplexity on held-out text and
greedy-token agreement with fp over 20 chat prompts, for

  fp (the HF export of the Q4_1 GGUF = dequantised weights, fp16 KV)
  KV int8 static (calibrate + kv_qparams)   KV int8 online   KV int4 (online)
  W4 gN round-to-nearest (auto_awq --search_scale False)   W4 gN AWQ   W4 AWQ + KV int8 static

Data: calibration on GPL-3 + GFDL-1.3, evaluation on Apache-2.0 (/usr/share/common-licenses,
on every Debian machine). Perplexity: `lmdeploy lite ppl WS --max-tokens N` (one window).
Agreement: an api_server per configuration greedily generates --new tokens (ignore_eos) after
each SmolLM2 chat prompt, one request at a time; a configuration's greedy sequence agrees
with fp's up to the first differing token. Printed: prompts identical over all tokens, and the
mean share of tokens before the first divergence.

  python3 tools/quant_quality.py [--binary build/bin/lmdeploy] [--hf build/test-models/smollm2-hf]
      [--work build/quant-quality] [--group-size 64] [--max-tokens 1024] [--new 32]

SmolLM2's hidden size 576 is not a multiple of 128, so the default group is 64. Intermediate
models are kept in --work and reused (delete it to start over).
"""
import argparse
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quant_server import Server  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LICENSES = Path("/usr/share/common-licenses")
SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
PROMPTS = [
    "What is the capital of France?", "Write a haiku about the sea.", "Explain photosynthesis in one sentence.",
    "What is 12 times 7?", "Name three primary colors.", "How do I boil an egg?",
    "Translate 'good morning' into Spanish.", "What is the largest planet in the solar system?",
    "Give me a tip for learning to code.", "Who wrote Romeo and Juliet?", "What does a CPU do?",
    "Tell me a short joke.", "What is the boiling point of water in Celsius?", "Why is the sky blue?",
    "List two benefits of exercise.", "What is machine learning?", "How many days are in a leap year?",
    "Suggest a name for a pet cat.", "What is the opposite of hot?", "Describe a rainbow in one sentence.",
]


def chatml(p):
    return (f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{p}<|im_end|>\n"
            f"<|im_start|>assistant\n")


def run(binary, *args):
    t0 = time.time()
    p = subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"failed: lmdeploy {' '.join(map(str, args))}\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}")
    print(f"  [{time.time() - t0:6.1f} s] lmdeploy {' '.join(map(str, args[:2]))} ...", file=sys.stderr)
    return p.stdout


def prepare(a):
    """The models of every configuration (reused when present)."""
    w = Path(a.work)
    w.mkdir(parents=True, exist_ok=True)
    calib, evalf = w / "calib.txt", w / "eval.txt"
    calib.write_text((LICENSES / "GPL-3").read_text() + "\n" + (LICENSES / "GFDL-1.3").read_text())
    evalf.write_text((LICENSES / "Apache-2.0").read_text())
    b, hf, g = a.binary, a.hf, a.group_size
    ws = w / "ws"
    if not ws.exists():
        run(b, "convert", "smollm", hf, "--dst_path", ws)
    stats = w / "calib"
    if not (stats / "calib_stats.safetensors").exists():
        run(b, "lite", "calibrate", "--model", hf, "--calib_dataset", calib, "--calib_samples", a.samples,
            "--calib_seqlen", a.seqlen, "--work_dir", stats)

    def with_kv(src, dst):
        if not dst.exists():
            shutil.copytree(src, dst)
            run(b, "lite", "kv_qparams", "--work_dir", stats, "--turbomind_dir", dst / "triton_models" / "weights",
                "--kv_sym", "False", "--num_tp", 1)
        return dst

    def awq(name, *flags):
        out, dst = w / f"{name}_ckpt", w / f"ws_{name}"
        if not dst.exists():
            out.mkdir(exist_ok=True)
            for f in ("calib_meta.json", "calib_stats.safetensors"):  # auto_awq reuses calibrate's dataset
                shutil.copy(stats / f, out / f)
            run(b, "lite", "auto_awq", "--model", hf, "--w_bits", 4, "--w_group_size", g, "--work_dir", out,
                "--search_tokens", a.search_tokens, *flags)
            run(b, "convert", "smollm", out, "--model-format", "awq", "--group-size", g, "--dst_path", dst)
        return dst

    ws_kv = with_kv(ws, w / "ws_kv")
    ws_rtn = awq("rtn", "--search_scale", "False")
    ws_awq = awq("awq")
    ws_awq_kv = with_kv(ws_awq, w / "ws_awq_kv")
    return evalf, [
        ("fp weights (HF export of the Q4_1 GGUF), fp16 KV", ws, "0"),
        ("+ KV int8 static (kv_qparams, asymmetric)", ws_kv, "4"),
        ("+ KV int8 online (per token and head)", ws, "8"),
        ("+ KV int4 online", ws, "int4"),
        (f"W4 g{g} round-to-nearest", ws_rtn, "0"),
        (f"W4 g{g} AWQ", ws_awq, "0"),
        (f"W4 g{g} AWQ + KV int8 static", ws_awq_kv, "4"),
    ]


def ppl(a, model, qp, evalf):
    out = run(a.binary, "lite", "ppl", model, "--dataset", evalf, "--max-tokens", a.max_tokens, "--quant-policy", qp)
    m = re.match(r"ppl ([\d.]+)\s+\(kv (.+?), \d+ tokens scored", out)
    return float(m.group(1)), m.group(2)


def greedy(a, model, qp):
    with Server(a.binary, model, "--quant-policy", qp, "--session-len", 512, "--instance_num", 4,
                "--cache-max-entry-count", 64) as s:
        return [s.greedy_tokens(chatml(p), a.new) for p in PROMPTS]


def agreement(ref, got):
    same, shares = 0, []
    for r, g in zip(ref, got):
        k = 0
        while k < min(len(r), len(g)) and r[k] == g[k]:
            k += 1
        same += int(k == len(r) == len(g))
        shares.append(k / max(1, len(r)))
    return same, 100.0 * sum(shares) / len(shares)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", default=str(ROOT / "build" / "bin" / "lmdeploy"))
    ap.add_argument("--hf", default=str(ROOT / "build" / "test-models" / "smollm2-hf"))
    ap.add_argument("--work", default=str(ROOT / "build" / "quant-quality"))
    ap.add_argument("--group-size", type=int, default=64)
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--seqlen", type=int, default=256)
    ap.add_argument("--search-tokens", type=int, default=128)
    ap.add_argument("--max-tokens", type=int, default=1024)
    ap.add_argument("--new", type=int, default=32)
    a = ap.parse_args()
    if not Path(a.hf, "config.json").exists():
        sys.exit(f"{a.hf}: no HF model; run tools/prepare_test_models.sh")
    evalf, configs = prepare(a)
    rows, ref = [], None
    for label, model, qp in configs:
        p, kv = ppl(a, model, qp, evalf)
        toks = greedy(a, model, qp)
        ref = ref or toks
        same, share = agreement(ref, toks)
        rows.append((label, p, kv, same, share))
        print(f"  {label}: ppl {p:.3f} ({kv}), identical {same}/{len(PROMPTS)}, agree {share:.1f} %", file=sys.stderr)
    fp = rows[0][1]
    print(f"\nperplexity: first {a.max_tokens} tokens of Apache-2.0, one window; agreement: {len(PROMPTS)} chat "
          f"prompts x {a.new} greedy tokens vs fp\n")
    print("| configuration | ppl | vs fp | greedy identical | tokens agreeing |")
    print("|---|---:|---:|---:|---:|")
    for i, (label, p, kv, same, share) in enumerate(rows):
        vs = "—" if i == 0 else f"{100.0 * (p - fp) / fp:+.2f} %"
        print(f"| {label} | {p:.3f} | {vs} | {same}/{len(PROMPTS)} | {share:.1f} % |")


if __name__ == "__main__":
    main()
