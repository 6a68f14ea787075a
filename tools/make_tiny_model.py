#!/usr/bin/env python3
"""Write a tiny random Hugging Face model with a locally trained SentencePiece tokenizer.

    python3 tools/make_tiny_model.py OUT_DIR --arch llama|internlm|qwen2 [--seed N]
                                     [--dtype f32|f16|bf16] [--shards N] [--gguf FILE]

The model is small enough for exhaustive tests (hidden 64, 2 layers, 4 heads of 16, GQA with
2 KV heads for llama and qwen2; InternLM v1 has no GQA and puts a bias on q/k/v/o; Qwen2 has
a bias on q/k/v only, and rope_theta 1e6 as the real ones) and its weights are scaled so that
activations keep unit size through the layers.

--gguf FILE also writes the same weights (f32, or f16 matrices with --dtype f16) as a GGUF in
llama.cpp's own tensor names and metadata, as llama.cpp's convert_hf_to_gguf.py would (qwen2 only: its
q/k rows stay in HF order; llama.cpp rotates them NEOX-style), with the SentencePiece
vocabulary as tokenizer.ggml.model "llama", so llama.cpp can run the very same model.

Tokenizer: SentencePiece (BPE, byte_fallback, Llama's normalisation settings, vocab 512)
trained on the licence texts in /usr/share/common-licenses (shipped by Debian's base-files, so
present everywhere), saved as tokenizer.model. The HF config's vocab_size equals the
tokenizer's piece count.

Weights: safetensors in the requested dtype (default: f16 for llama, f32 for internlm, so both
dtype paths of the loaders get exercised), optionally sharded into N files plus
model.safetensors.index.json, the way transformers writes big checkpoints.
"""

import argparse
import glob
import io
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_hf  # noqa: E402  (safetensors writer)

LICENSE_DIR = "/usr/share/common-licenses"
VOCAB_SIZE = 512

# bias: the projections that carry one.
ARCHS = {
    "llama": {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "kv_heads": 2,
              "bias": (), "dtype": "f16"},
    "internlm": {"architectures": ["InternLMForCausalLM"], "model_type": "internlm", "kv_heads": 4,
                 "bias": ("q_proj", "k_proj", "v_proj", "o_proj"), "dtype": "f32"},
    "qwen2": {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "kv_heads": 2,
              "bias": ("q_proj", "k_proj", "v_proj"), "dtype": "f32"},
}
QWEN2_ROPE_THETA = 1000000.0
HIDDEN, LAYERS, HEADS, INTER = 64, 2, 4, 128
TORCH_DTYPE = {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}


def training_sentences():
    """Non-empty lines of every distinct licence text, in a fixed order."""
    seen = set()
    for path in sorted(glob.glob(os.path.join(LICENSE_DIR, "*"))):
        real = os.path.realpath(path)
        if real in seen or not os.path.isfile(real):
            continue
        seen.add(real)
        with open(real, encoding="utf-8", errors="replace") as f:
            for line in f:
                line = line.strip()
                if line:
                    yield line


def train_tokenizer(out_path):
    import sentencepiece as spm

    sentences = list(training_sentences())
    if len(sentences) < 1000:
        raise RuntimeError(f"{LICENSE_DIR}: only {len(sentences)} lines of training text")
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences), model_writer=buf, vocab_size=VOCAB_SIZE,
        model_type="bpe", byte_fallback=True, character_coverage=1.0, num_threads=1,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, minloglevel=2,
        # Llama's settings: no normalisation, keep whitespace runs, split digits, and bytes
        # for anything unseen (newlines and tabs come out as <0x0A> / <0x09>).
        normalization_rule_name="identity", remove_extra_whitespaces=False,
        split_digits=True, allow_whitespace_only_pieces=True)
    with open(out_path, "wb") as f:
        f.write(buf.getvalue())
    return spm.SentencePieceProcessor(model_file=out_path)


def random_weights(arch, vocab, seed):
    """{hf name: float32 ndarray}; linear weights ~ N(0, 1/in) keep activations O(1)."""
    rng = np.random.default_rng(seed)
    spec = ARCHS[arch]
    head_dim = HIDDEN // HEADS
    kv = spec["kv_heads"] * head_dim

    def lin(out_dim, in_dim):
        return (rng.standard_normal((out_dim, in_dim)) / np.sqrt(in_dim)).astype(np.float32)

    def norm(n):
        return (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)

    def bias(n):
        return (0.1 * rng.standard_normal(n)).astype(np.float32)

    w = {"model.embed_tokens.weight": rng.standard_normal((vocab, HIDDEN)).astype(np.float32)}
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = norm(HIDDEN)
        for name, out_dim in (("q_proj", HIDDEN), ("k_proj", kv), ("v_proj", kv), ("o_proj", HIDDEN)):
            w[p + f"self_attn.{name}.weight"] = lin(out_dim, HIDDEN)
            if name in spec["bias"]:
                w[p + f"self_attn.{name}.bias"] = bias(out_dim)
        w[p + "post_attention_layernorm.weight"] = norm(HIDDEN)
        w[p + "mlp.gate_proj.weight"] = lin(INTER, HIDDEN)
        w[p + "mlp.up_proj.weight"] = lin(INTER, HIDDEN)
        w[p + "mlp.down_proj.weight"] = lin(HIDDEN, INTER)
    w["model.norm.weight"] = norm(HIDDEN)
    w["lm_head.weight"] = lin(vocab, HIDDEN)  # untied: SmolLM2 covers the tied case
    return w


def cast(tensors, dtype):
    """-> (arrays, safetensors dtype overrides)."""
    if dtype == "f32":
        return tensors, {}
    if dtype == "f16":
        return {k: v.astype(np.float16) for k, v in tensors.items()}, {}
    return ({k: export_hf.f32_to_bf16_bits(v) for k, v in tensors.items()},
            {k: "BF16" for k in tensors})


def write_weights(out_dir, tensors, dtypes, shards):
    if shards <= 1:
        export_hf.write_safetensors(os.path.join(out_dir, "model.safetensors"), tensors, dtypes)
        return
    names = list(tensors)
    total = sum(tensors[n].nbytes for n in names)
    # Greedy split by bytes, in name order, like transformers' max_shard_size.
    groups, current, acc = [], [], 0
    for n in names:
        current.append(n)
        acc += tensors[n].nbytes
        if acc >= total * (len(groups) + 1) / shards and len(groups) < shards - 1:
            groups.append(current)
            current = []
    groups.append(current)
    if len(groups) != shards or not all(groups):
        raise RuntimeError(f"could not split {len(names)} tensors into {shards} shards")
    weight_map = {}
    for i, group in enumerate(groups):
        fname = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        export_hf.write_safetensors(os.path.join(out_dir, fname), {n: tensors[n] for n in group},
                                    {n: dtypes[n] for n in group if n in dtypes})
        weight_map.update({n: fname for n in group})
    write_json(os.path.join(out_dir, "model.safetensors.index.json"),
               {"metadata": {"total_size": total}, "weight_map": weight_map})


def hf_config(arch, vocab, dtype):
    spec = ARCHS[arch]
    cfg = {
        "architectures": spec["architectures"],
        "model_type": spec["model_type"],
        "hidden_size": HIDDEN,
        "intermediate_size": INTER,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "hidden_act": "silu",
        "max_position_embeddings": 512,
        "rms_norm_eps": 1e-06,
        "initializer_range": 0.02,
        "tie_word_embeddings": False,
        "torch_dtype": TORCH_DTYPE[dtype],
        "use_cache": True,
        "vocab_size": vocab,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "pad_token_id": 0,
    }
    if arch == "llama":
        # A non-default theta and explicit GQA, so a parser that ignores them fails a test.
        cfg.update({"num_key_value_heads": spec["kv_heads"], "rope_theta": 50000.0,
                    "attention_bias": False, "mlp_bias": False, "rope_scaling": None})
    elif arch == "qwen2":
        # Qwen2Config: q/k/v bias is implied by the architecture (no field for it).
        cfg.update({"num_key_value_heads": spec["kv_heads"], "rope_theta": QWEN2_ROPE_THETA,
                    "use_sliding_window": False, "sliding_window": None, "max_window_layers": LAYERS,
                    "attention_dropout": 0.0, "rope_scaling": None})
    else:
        # InternLM v1 configs carry `bias` and neither num_key_value_heads nor rope_theta
        # (theta 10000, kv heads = heads).
        cfg["bias"] = True
    return cfg


def tokenizer_config(arch):
    cfg = {
        "tokenizer_class": "InternLMTokenizer" if arch == "internlm" else "LlamaTokenizer",
        "add_bos_token": True,
        "add_eos_token": False,
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "pad_token": None,
        "model_max_length": 512,
        "clean_up_tokenization_spaces": False,
    }
    if arch == "internlm":
        cfg["auto_map"] = {"AutoTokenizer": ["tokenization_internlm.InternLMTokenizer", None]}
    return cfg


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


# HF name part -> llama.cpp's (convert_hf_to_gguf / gguf.constants naming).
GGUF_LAYER_NAMES = {
    "input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
    "post_attention_layernorm": "ffn_norm", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
GGUF_GLOBAL_NAMES = {"model.embed_tokens": "token_embd", "model.norm": "output_norm", "lm_head": "output"}


def gguf_tensor_name(hf_name):
    """model.layers.3.self_attn.q_proj.weight -> blk.3.attn_q.weight."""
    stem, kind = hf_name.rsplit(".", 1)
    if stem.startswith("model.layers."):
        _, _, layer, part = stem.split(".", 3)
        return f"blk.{layer}.{GGUF_LAYER_NAMES[part]}.{kind}"
    return f"{GGUF_GLOBAL_NAMES[stem]}.{kind}"


def write_gguf(path, arch, tensors, sp, dtype):
    """The model as llama.cpp's converter would write it (qwen2 only: no q/k row permutation)."""
    import gguf

    if arch != "qwen2":
        raise ValueError(f"--gguf: only qwen2 is written as GGUF here (got {arch})")
    w = gguf.GGUFWriter(path, arch)
    w.add_name(f"tiny random {arch}")
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if dtype == "f16" else gguf.LlamaFileType.ALL_F32)
    w.add_context_length(512)
    w.add_embedding_length(HIDDEN)
    w.add_block_count(LAYERS)
    w.add_feed_forward_length(INTER)
    w.add_head_count(HEADS)
    w.add_head_count_kv(ARCHS[arch]["kv_heads"])
    w.add_rope_freq_base(QWEN2_ROPE_THETA)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    n = sp.get_piece_size()
    types = []
    for i in range(n):
        types.append(gguf.TokenType.UNKNOWN if sp.is_unknown(i) else gguf.TokenType.CONTROL if sp.is_control(i)
                     else gguf.TokenType.BYTE if sp.is_byte(i) else gguf.TokenType.NORMAL)
    w.add_token_list([sp.id_to_piece(i).encode("utf-8") for i in range(n)])
    w.add_token_scores([float(sp.get_score(i)) for i in range(n)])
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    for name, t in tensors.items():
        t = t.astype(np.float32)
        # llama.cpp keeps norms and biases in f32 whatever the file type.
        if dtype == "f16" and t.ndim == 2:
            t = t.astype(np.float16)
        w.add_tensor(gguf_tensor_name(name), t)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def make(out_dir, arch, seed=0, dtype=None, shards=1, gguf_path=None):
    dtype = dtype or ARCHS[arch]["dtype"]
    os.makedirs(out_dir, exist_ok=True)
    sp = train_tokenizer(os.path.join(out_dir, "tokenizer.model"))
    vocab = sp.get_piece_size()
    f32_tensors = random_weights(arch, vocab, seed)
    if gguf_path:
        write_gguf(gguf_path, arch, f32_tensors, sp, dtype)
    tensors, dtypes = cast(f32_tensors, dtype)
    write_weights(out_dir, tensors, dtypes, shards)
    write_json(os.path.join(out_dir, "tokenizer_config.json"), tokenizer_config(arch))
    write_json(os.path.join(out_dir, "generation_config.json"),
               {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0})
    # config.json last: its presence marks a complete model.
    write_json(os.path.join(out_dir, "config.json"), hf_config(arch, vocab, dtype))


def main(argv=None):
    ap = argparse.ArgumentParser(description="tiny random HF model + SentencePiece tokenizer")
    ap.add_argument("out_dir")
    ap.add_argument("--arch", choices=sorted(ARCHS), required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dtype", choices=sorted(TORCH_DTYPE), help="default: f16 llama, f32 internlm and qwen2")
    ap.add_argument("--shards", type=int, default=1, help="number of safetensors files")
    ap.add_argument("--gguf", help="also write the same weights as this GGUF file (qwen2)")
    args = ap.parse_args(argv)
    if args.shards < 1:
        ap.error("--shards must be >= 1")
    if args.gguf and (args.arch != "qwen2" or args.dtype == "bf16"):
        ap.error("--gguf: qwen2 with f32 or f16 weights only")
    make(args.out_dir, args.arch, args.seed, args.dtype, args.shards, args.gguf)
    print(args.out_dir)


if __name__ == "__main__":
    main()
