#!/usr/bin/env python3
"""Generate golden logits for C++ forward tests from the numpy reference (tools/numpy_llama.py).

    python3 tools/gen_logits_golden.py MODEL OUT_PREFIX (--tokens "1 2 3" | --text "...")
                                       [--top-k 16] [--full] [--greedy N]

MODEL is a GGUF file or an HF directory. Writes OUT_PREFIX.json:

    {"generated_by": "...", "oracle": "tools/numpy_llama.py (f64)", "model": "<file name>",
     "token_ids": [...], "vocab_size": V,
     "argmax": [per position],
     "top_k": [per position: [[id, logit], ...] best first],
     "greedy": [N greedy continuation tokens after the prompt]   (with --greedy N)}

and with --full also OUT_PREFIX.f32: raw little-endian float32 logits [n_tokens, vocab].
--text tokenises with llama.cpp (GGUF) or sentencepiece tokenizer.model (HF dir).
"""

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy_llama  # noqa: E402


def tokenize(model_path, text):
    if os.path.isdir(model_path):
        import sentencepiece as spm

        sp = spm.SentencePieceProcessor(model_file=os.path.join(model_path, "tokenizer.model"))
        return [sp.bos_id()] + sp.encode(text)
    import llama_cpp

    vocab = llama_cpp.Llama(model_path=model_path, vocab_only=True, verbose=False)
    return vocab.tokenize(text.encode(), add_bos=False, special=True)


def greedy(model, ids, n):
    """n greedy tokens, recomputing the full prefix each step (simple, exact)."""
    out = []
    seq = list(ids)
    for _ in range(n):
        nxt = int(numpy_llama.logits(model, seq)[-1].argmax())
        out.append(nxt)
        seq.append(nxt)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("out_prefix")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--tokens", help='space-separated ids, e.g. "1 2 3"')
    src.add_argument("--text", help="prompt text, tokenised by the model's own tokenizer")
    ap.add_argument("--top-k", type=int, default=16)
    ap.add_argument("--full", action="store_true", help="also write OUT_PREFIX.f32")
    ap.add_argument("--greedy", type=int, default=0, help="greedy continuation length")
    args = ap.parse_args(argv)

    ids = ([int(t) for t in args.tokens.split()] if args.tokens is not None
           else tokenize(args.model, args.text))
    model = numpy_llama.load(args.model)
    logits = numpy_llama.logits(model, ids)  # [T, vocab] f64
    top = np.argsort(-logits, axis=-1, kind="stable")[:, : args.top_k]
    golden = {
        "generated_by": "tools/gen_logits_golden.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "oracle": "tools/numpy_llama.py (float64 math on dequantised weights)",
        "model": os.path.basename(os.path.normpath(args.model)),
        "token_ids": [int(i) for i in ids],
        "vocab_size": int(logits.shape[1]),
        "argmax": [int(i) for i in logits.argmax(-1)],
        "top_k": [[[int(i), float(logits[p, i])] for i in top[p]] for p in range(len(ids))],
    }
    if args.greedy:
        golden["greedy"] = greedy(model, ids, args.greedy)
    with open(args.out_prefix + ".json", "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")
    if args.full:
        logits.astype("<f4").tofile(args.out_prefix + ".f32")
    print(args.out_prefix + ".json")


if __name__ == "__main__":
    main()
