#!/usr/bin/env python3
"""A small, readable numpy reference forward for Llama-family models (Llama, InternLM v1, Qwen2).

    python3 tools/numpy_llama.py MODEL --tokens "1 2 3" --out logits.npy [--dtype f64|f32]

MODEL is a GGUF file (weights dequantised with the gguf package, bit-exact) or a Hugging Face
directory (config.json + model.safetensors or a sharded index; f32/f16/bf16).

The forward is teacher-forced and causal over the whole prompt: logits(model, ids) returns
[n_tokens, vocab]. No KV cache, no batching: it is an oracle, not an engine.

RoPE pairing: a llama GGUF keeps llama.cpp's permuted q/k rows, so it is run with *adjacent-pair*
RoPE (x_2i, x_2i+1); an HF directory, and a qwen2 GGUF (llama.cpp's converter leaves its rows
in HF order and llama.cpp rotates them NEOX-style), with *half-split* RoPE (x_i, x_{i+d/2}). The two
paths are independent, so numpy_llama(GGUF) == numpy_llama(export_hf(GGUF)) checks the
exporter's un-permutation as well as this file.
"""

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_hf  # noqa: E402  (shared GGUF / safetensors helpers)


# GGUF architectures whose q/k rows convert_hf_to_gguf does not permute (llama.cpp: NEOX RoPE).
HALF_SPLIT_GGUF_ARCHS = ("qwen2",)


class Model:
    """Hyper-parameters + float weights under HF names.

    cfg keys: hidden_size, num_hidden_layers, num_attention_heads, num_key_value_heads,
    head_dim, intermediate_size, rms_norm_eps, rope_theta, vocab_size, rope_style
    ("adjacent" | "half").  weights: {hf name: ndarray [out, in] or [n]}.
    """

    def __init__(self, cfg, weights):
        self.cfg = cfg
        self.weights = weights

    def w(self, name):
        return self.weights[name]

    def maybe(self, name):
        return self.weights.get(name)


def load_gguf(path, dtype=np.float64):
    reader = export_hf.open_gguf(path)
    hp = export_hf.llama_hparams(reader)
    weights = {export_hf.hf_tensor_name(t.name): export_hf.gguf_tensor_f32(t).astype(dtype)
               for t in reader.tensors}
    cfg = dict(hp, rope_style="half" if hp["arch"] in HALF_SPLIT_GGUF_ARCHS else "adjacent")
    return Model(cfg, weights)


def load_hf(model_dir, dtype=np.float64):
    with open(os.path.join(model_dir, "config.json")) as f:
        c = json.load(f)
    n_heads = c["num_attention_heads"]
    cfg = {
        "hidden_size": c["hidden_size"],
        "num_hidden_layers": c["num_hidden_layers"],
        "num_attention_heads": n_heads,
        "num_key_value_heads": c.get("num_key_value_heads", n_heads),
        "head_dim": c.get("head_dim") or c["hidden_size"] // n_heads,
        "intermediate_size": c["intermediate_size"],
        "rms_norm_eps": c["rms_norm_eps"],
        "rope_theta": c.get("rope_theta", 10000.0),
        "vocab_size": c["vocab_size"],
        "rope_style": "half",
    }
    weights = {k: v.astype(dtype) for k, v in export_hf.read_hf_weights(model_dir).items()}
    return Model(cfg, weights)


def load(path, dtype=np.float64):
    return load_hf(path, dtype) if os.path.isdir(path) else load_gguf(path, dtype)


# ---------------------------------------------------------------------------------------------
# ops


def rms_norm(x, w, eps):
    # x: [T, hidden]
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def linear(model, x, prefix):
    # x: [T, in], weight: [out, in] -> [T, out]
    y = x @ model.w(prefix + ".weight").T
    bias = model.maybe(prefix + ".bias")
    return y if bias is None else y + bias


def rope(x, positions, theta, style):
    """x: [T, heads, head_dim]; rotates pairs by angle pos * theta^(-2i/head_dim)."""
    d = x.shape[-1]
    inv_freq = theta ** (-np.arange(0, d // 2, dtype=np.float64) * 2.0 / d)  # [d/2]
    ang = positions[:, None].astype(np.float64) * inv_freq[None, :]  # [T, d/2]
    cos = np.cos(ang)[:, None, :].astype(x.dtype)  # [T, 1, d/2]
    sin = np.sin(ang)[:, None, :].astype(x.dtype)
    if style == "adjacent":
        a, b = x[..., 0::2], x[..., 1::2]
    else:
        a, b = x[..., : d // 2], x[..., d // 2:]
    ra, rb = a * cos - b * sin, a * sin + b * cos
    out = np.empty_like(x)
    if style == "adjacent":
        out[..., 0::2], out[..., 1::2] = ra, rb
    else:
        out[..., : d // 2], out[..., d // 2:] = ra, rb
    return out


def attention(model, x, layer, positions):
    """Causal GQA self-attention. x: [T, hidden] -> [T, hidden]."""
    c = model.cfg
    T = x.shape[0]
    H, KVH, D = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
    p = f"model.layers.{layer}.self_attn."
    q = linear(model, x, p + "q_proj").reshape(T, H, D)
    k = linear(model, x, p + "k_proj").reshape(T, KVH, D)
    v = linear(model, x, p + "v_proj").reshape(T, KVH, D)
    q = rope(q, positions, c["rope_theta"], c["rope_style"])
    k = rope(k, positions, c["rope_theta"], c["rope_style"])
    group = H // KVH  # query heads per KV head
    k = np.repeat(k, group, axis=1)  # [T, H, D]
    v = np.repeat(v, group, axis=1)
    scores = np.einsum("qhd,khd->hqk", q, k) / np.sqrt(D)  # [H, T, T]
    scores = scores + np.triu(np.full((T, T), -np.inf, dtype=x.dtype), k=1)
    scores = scores - scores.max(axis=-1, keepdims=True)
    probs = np.exp(scores)
    probs /= probs.sum(axis=-1, keepdims=True)
    out = np.einsum("hqk,khd->qhd", probs, v).reshape(T, H * D)  # [T, H*D]
    return linear(model, out, p + "o_proj")


def mlp(model, x, layer):
    """SwiGLU: down(silu(gate(x)) * up(x)). x: [T, hidden]."""
    p = f"model.layers.{layer}.mlp."
    g = linear(model, x, p + "gate_proj")
    u = linear(model, x, p + "up_proj")
    return linear(model, g / (1.0 + np.exp(-g)) * u, p + "down_proj")


def logits(model, token_ids):
    """Teacher-forced causal forward. token_ids: [T] ints -> logits [T, vocab]."""
    c = model.cfg
    ids = np.asarray(token_ids, dtype=np.int64)
    eps = c["rms_norm_eps"]
    embed = model.w("model.embed_tokens.weight")  # [vocab, hidden]
    x = embed[ids]  # [T, hidden]
    positions = np.arange(len(ids))
    for layer in range(c["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        x = x + attention(model, rms_norm(x, model.w(p + "input_layernorm.weight"), eps), layer, positions)
        x = x + mlp(model, rms_norm(x, model.w(p + "post_attention_layernorm.weight"), eps), layer)
    x = rms_norm(x, model.w("model.norm.weight"), eps)
    head = model.maybe("lm_head.weight")
    return x @ (embed if head is None else head).T  # tied embeddings when there is no lm_head


def main(argv=None):
    ap = argparse.ArgumentParser(description="numpy reference logits for a Llama-family model")
    ap.add_argument("model", help="GGUF file or HF directory")
    ap.add_argument("--tokens", required=True, help='space-separated token ids, e.g. "1 2 3"')
    ap.add_argument("--out", required=True, help="output .npy, float32 [n_tokens, vocab]")
    ap.add_argument("--dtype", choices=["f64", "f32"], default="f64", help="math precision")
    args = ap.parse_args(argv)
    ids = [int(t) for t in args.tokens.replace(",", " ").split()]
    if not ids:
        ap.error("--tokens is empty")
    model = load(args.model, np.float64 if args.dtype == "f64" else np.float32)
    out = logits(model, ids).astype(np.float32)
    np.save(args.out, out)
    print(f"{args.out}: logits {out.shape}, argmax of last = {int(out[-1].argmax())}")


if __name__ == "__main__":
    main()
