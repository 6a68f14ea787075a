#!/usr/bin/env python3
"""Export a Llama-family GGUF (the SmolLM2 default model) to a Hugging Face directory.

    python3 tools/export_hf.py GGUF OUT_DIR [--no-verify]

Writes into OUT_DIR:
  config.json             LlamaForCausalLM, every field taken from the GGUF metadata
  model.safetensors       float32 tensors, dequantised with gguf.quants.dequantize (bit-exact),
                          HF names, q/k rows un-permuted back to HF's half-split RoPE order
  tokenizer.json          HF `tokenizers` byte-level BPE (vocab + merges from the GGUF)
  tokenizer_config.json   special tokens + the GGUF's chat template
  generation_config.json  bos / eos / pad ids

The HF directory is the oracle-backed input for the C++ `convert --model-format hf` path: it
holds exactly the GGUF's numbers, so a workspace converted from it must match one converted
from the GGUF.

This module also holds the small format helpers the other tools share (GGUF metadata and
dequantised tensors, the q/k row permutation, a dependency-free safetensors reader/writer).
"""

import argparse
import json
import os
import struct
import sys

import numpy as np

# ---------------------------------------------------------------------------------------------
# GGUF helpers


def open_gguf(path):
    import gguf  # imported lazily: make_tiny_model / safetensors users do not need it

    return gguf.GGUFReader(path)


def gguf_meta(reader, key, default=KeyError):
    """Value of a metadata key (python scalar, str or list); `default` when absent."""
    field = reader.fields.get(key)
    if field is None:
        if default is KeyError:
            raise KeyError(f"GGUF metadata key {key!r} missing")
        return default
    return field.contents()


def gguf_tensor_f32(tensor):
    """Dequantise one GGUF tensor to float32, numpy (row-major, PyTorch) shape."""
    import gguf

    data = gguf.quants.dequantize(tensor.data, tensor.tensor_type)
    # ggml dims are innermost-first; the numpy shape is the reverse.
    shape = tuple(int(d) for d in reversed(tensor.shape.tolist()))
    return np.ascontiguousarray(data.reshape(shape), dtype=np.float32)


def gguf_tensors_f32(reader):
    """{gguf name: float32 ndarray} for every tensor of the file."""
    return {t.name: gguf_tensor_f32(t) for t in reader.tensors}


def llama_hparams(reader):
    """The Llama hyper-parameters of a GGUF, as a plain dict (GGUF key prefix = architecture)."""
    arch = gguf_meta(reader, "general.architecture")
    k = lambda name, default=KeyError: gguf_meta(reader, f"{arch}.{name}", default)  # noqa: E731
    n_heads = int(k("attention.head_count"))
    hidden = int(k("embedding_length"))
    vocab = k("vocab_size", None)
    if vocab is None:
        vocab = len(gguf_meta(reader, "tokenizer.ggml.tokens"))
    return {
        "arch": arch,
        "hidden_size": hidden,
        "num_hidden_layers": int(k("block_count")),
        "intermediate_size": int(k("feed_forward_length")),
        "num_attention_heads": n_heads,
        "num_key_value_heads": int(k("attention.head_count_kv", n_heads)),
        "head_dim": int(k("rope.dimension_count", hidden // n_heads)),
        "max_position_embeddings": int(k("context_length")),
        "rms_norm_eps": float(k("attention.layer_norm_rms_epsilon")),
        "rope_theta": float(k("rope.freq_base", 10000.0)),
        "vocab_size": int(vocab),
    }


# ---------------------------------------------------------------------------------------------
# RoPE row permutation (see shared/reference/gguf-and-peers.md)
#
# HF checkpoints rotate half-split pairs (x_i, x_{i+d/2}); llama.cpp's converter permutes the
# rows of q/k per head so that RoPE rotates adjacent pairs (x_2i, x_2i+1).


def permute_rows(w, n_heads):
    """HF -> GGUF order. w: [rows, ...] with rows = n_heads * head_dim (weights or biases)."""
    rows = w.shape[0]
    return w.reshape(n_heads, 2, rows // n_heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute_rows(w, n_heads):
    """GGUF -> HF order; inverse of permute_rows."""
    rows = w.shape[0]
    return w.reshape(n_heads, rows // n_heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


# ---------------------------------------------------------------------------------------------
# safetensors (format: u64 header length, JSON header, raw little-endian data)

# numpy has no bfloat16: BF16 tensors travel as uint16 bit patterns, tagged explicitly.
_ST_DTYPES = {
    "F64": np.float64,
    "F32": np.float32,
    "F16": np.float16,
    "BF16": np.uint16,
    "I64": np.int64,
    "I32": np.int32,
    "I16": np.int16,
    "I8": np.int8,
    "U8": np.uint8,
}
_NP_TO_ST = {np.dtype(np.float64): "F64", np.dtype(np.float32): "F32", np.dtype(np.float16): "F16",
             np.dtype(np.int64): "I64", np.dtype(np.int32): "I32", np.dtype(np.int16): "I16",
             np.dtype(np.int8): "I8", np.dtype(np.uint8): "U8"}


def f32_to_bf16_bits(x):
    """float32 array -> bfloat16 bit patterns (uint16), round-to-nearest-even."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype(np.uint16)


def bf16_bits_to_f32(b):
    return (np.asarray(b, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def write_safetensors(path, tensors, dtypes=None, metadata=None):
    """Write {name: ndarray}. dtypes optionally maps name -> "BF16" for uint16 bit patterns."""
    dtypes = dtypes or {}
    header = {}
    offset = 0
    arrays = []
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        st_dtype = dtypes.get(name) or _NP_TO_ST[arr.dtype]
        if st_dtype == "BF16" and arr.dtype != np.uint16:
            raise ValueError(f"{name}: BF16 tensors must be given as uint16 bit patterns")
        arr = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
        header[name] = {"dtype": st_dtype, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
        arrays.append(arr)
    header["__metadata__"] = metadata or {"format": "pt"}
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)  # keep the data section 8-byte aligned
    tmp = path + ".part"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for arr in arrays:
            f.write(arr.tobytes())
    os.replace(tmp, path)


def read_safetensors(path, as_f32=True):
    """{name: ndarray} from one .safetensors file (float tensors converted to float32)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        arr = data[begin:end].view(_ST_DTYPES[info["dtype"]]).reshape(info["shape"])
        if info["dtype"] == "BF16" and as_f32:
            arr = bf16_bits_to_f32(arr).reshape(info["shape"])
        elif as_f32 and info["dtype"] in ("F16", "F64"):
            arr = arr.astype(np.float32)
        out[name] = np.array(arr)
    return out


def read_hf_weights(model_dir):
    """All tensors of an HF directory: model.safetensors or a sharded index."""
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    out = {}
    for name in files:
        out.update(read_safetensors(os.path.join(model_dir, name)))
    return out


# ---------------------------------------------------------------------------------------------
# GGUF -> HF


def _shortest_f32(x):
    """1e-05 instead of 9.999999747378752e-06: the shortest decimal that round-trips to f32."""
    return float(str(np.float32(x)))


def hf_config(reader):
    hp = llama_hparams(reader)
    has_output = any(t.name == "output.weight" for t in reader.tensors)
    bos = gguf_meta(reader, "tokenizer.ggml.bos_token_id", None)
    eos = gguf_meta(reader, "tokenizer.ggml.eos_token_id", None)
    pad = gguf_meta(reader, "tokenizer.ggml.padding_token_id", None)
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": hp["hidden_size"],
        "intermediate_size": hp["intermediate_size"],
        "num_hidden_layers": hp["num_hidden_layers"],
        "num_attention_heads": hp["num_attention_heads"],
        "num_key_value_heads": hp["num_key_value_heads"],
        "head_dim": hp["head_dim"],
        "hidden_act": "silu",
        "max_position_embeddings": hp["max_position_embeddings"],
        "rms_norm_eps": _shortest_f32(hp["rms_norm_eps"]),
        "rope_theta": _shortest_f32(hp["rope_theta"]),
        "rope_scaling": None,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "initializer_range": 0.02,
        "pretraining_tp": 1,
        "tie_word_embeddings": not has_output,
        "torch_dtype": "float32",
        "use_cache": True,
        "vocab_size": hp["vocab_size"],
        "bos_token_id": None if bos is None else int(bos),
        "eos_token_id": None if eos is None else int(eos),
        "pad_token_id": None if pad is None else int(pad),
    }


_LAYER_NAMES = {
    "attn_norm": "input_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_norm": "post_attention_layernorm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
_GLOBAL_NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}


def hf_tensor_name(gguf_name):
    """blk.3.attn_q.weight -> model.layers.3.self_attn.q_proj.weight (ValueError if unknown)."""
    parts = gguf_name.split(".")
    if parts[0] == "blk" and len(parts) == 4 and parts[2] in _LAYER_NAMES:
        return f"model.layers.{parts[1]}.{_LAYER_NAMES[parts[2]]}.{parts[3]}"
    if len(parts) == 2 and parts[0] in _GLOBAL_NAMES:
        return f"{_GLOBAL_NAMES[parts[0]]}.{parts[1]}"
    raise ValueError(f"GGUF tensor {gguf_name!r} has no HF name")


def hf_tensors(reader):
    """{hf name: float32 ndarray}, q/k rows in HF (half-split RoPE) order."""
    hp = llama_hparams(reader)
    out = {}
    for t in reader.tensors:
        w = gguf_tensor_f32(t)
        kind = t.name.split(".")[2] if t.name.startswith("blk.") else None
        if kind == "attn_q":
            w = unpermute_rows(w, hp["num_attention_heads"])
        elif kind == "attn_k":
            w = unpermute_rows(w, hp["num_key_value_heads"])
        out[hf_tensor_name(t.name)] = w
    return out


def hf_tokenizer_json(reader):
    """tokenizers' JSON for a GGUF `gpt2` (byte-level BPE) vocabulary."""
    model = gguf_meta(reader, "tokenizer.ggml.model")
    if model != "gpt2":
        raise ValueError(f"tokenizer.ggml.model = {model!r}: only byte-level BPE ('gpt2') is exported")
    tokens = gguf_meta(reader, "tokenizer.ggml.tokens")
    types = gguf_meta(reader, "tokenizer.ggml.token_type", [1] * len(tokens))
    merges = gguf_meta(reader, "tokenizer.ggml.merges")
    unk = gguf_meta(reader, "tokenizer.ggml.unknown_token_id", None)
    # Control (3) and user-defined (4) tokens are matched before the BPE model runs.
    added = [{"id": i, "content": tok, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": types[i] == 3}
             for i, tok in enumerate(tokens) if types[i] in (3, 4)]
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                  "use_regex": True}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        # SmolLM2's own tokenizer.json: digits split one by one, then the GPT-2 regex.
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": "\\p{N}"}, "behavior": "Isolated", "invert": False},
            byte_level,
        ]},
        "post_processor": dict(byte_level, trim_offsets=False),
        "decoder": dict(byte_level),
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None if unk is None else tokens[int(unk)],
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": {tok: i for i, tok in enumerate(tokens)},
            "merges": list(merges),
        },
    }


def hf_tokenizer_config(reader):
    tokens = gguf_meta(reader, "tokenizer.ggml.tokens")
    types = gguf_meta(reader, "tokenizer.ggml.token_type", [1] * len(tokens))
    tok = lambda key: (lambda i: None if i is None else tokens[int(i)])(  # noqa: E731
        gguf_meta(reader, f"tokenizer.ggml.{key}_token_id", None))
    cfg = {
        "tokenizer_class": "GPT2Tokenizer",
        "add_bos_token": bool(gguf_meta(reader, "tokenizer.ggml.add_bos_token", False)),
        "add_prefix_space": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": llama_hparams(reader)["max_position_embeddings"],
        "bos_token": tok("bos"),
        "eos_token": tok("eos"),
        "unk_token": tok("unknown"),
        "pad_token": tok("padding"),
        "added_tokens_decoder": {
            str(i): {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                     "single_word": False, "special": types[i] == 3}
            for i, t in enumerate(tokens) if types[i] in (3, 4)},
    }
    template = gguf_meta(reader, "tokenizer.chat_template", None)
    if template is not None:
        cfg["chat_template"] = template
    return cfg


def _write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


VERIFY_STRINGS = [
    "Hello world",
    "The year 2024 had 366 days.",
    "  leading spaces and\ttabs\n\nnewlines",
    "<|im_start|>user\nWhat is 12*34?<|im_end|>\n",
    "naïve café — ünïcödé 你好 🙂",
    "def f(x):\n    return x ** 2  # square",
]


def verify_tokenizer(tokenizer_path, gguf_path, strings=VERIFY_STRINGS):
    """Load tokenizer.json with HF tokenizers; compare with llama.cpp when it is importable.

    Returns the name of the oracle used ("llama.cpp" or "round-trip")."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(tokenizer_path)
    try:
        import llama_cpp
    except ImportError:
        llama_cpp = None
    if llama_cpp is None:
        for s in strings:
            ids = tok.encode(s, add_special_tokens=False).ids
            if tok.decode(ids, skip_special_tokens=False) != s:
                raise AssertionError(f"tokenizer.json does not round-trip {s!r}")
        return "round-trip"
    llm = llama_cpp.Llama(model_path=gguf_path, vocab_only=True, verbose=False)
    for s in strings:
        ours = tok.encode(s, add_special_tokens=False).ids
        ref = llm.tokenize(s.encode(), add_bos=False, special=True)
        if ours != ref:
            raise AssertionError(f"tokenizer.json ids differ from llama.cpp on {s!r}: {ours} vs {ref}")
    return "llama.cpp"


def export(gguf_path, out_dir, verify=True):
    reader = open_gguf(gguf_path)
    os.makedirs(out_dir, exist_ok=True)
    config = hf_config(reader)
    tensors = hf_tensors(reader)
    expected = 9 * config["num_hidden_layers"] + 2 + (0 if config["tie_word_embeddings"] else 1)
    if len(tensors) != expected:
        raise ValueError(f"{gguf_path}: {len(tensors)} tensors, expected {expected} for a Llama GGUF")
    write_safetensors(os.path.join(out_dir, "model.safetensors"), tensors)
    _write_json(os.path.join(out_dir, "tokenizer.json"), hf_tokenizer_json(reader))
    _write_json(os.path.join(out_dir, "tokenizer_config.json"), hf_tokenizer_config(reader))
    gen = {k: config[k] for k in ("bos_token_id", "eos_token_id", "pad_token_id") if config[k] is not None}
    _write_json(os.path.join(out_dir, "generation_config.json"), gen)
    # config.json last: its presence marks a complete export.
    _write_json(os.path.join(out_dir, "config.json"), config)
    if verify:
        oracle = verify_tokenizer(os.path.join(out_dir, "tokenizer.json"), gguf_path)
        print(f"export_hf: tokenizer.json verified against {oracle}", file=sys.stderr)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("gguf")
    ap.add_argument("out_dir")
    ap.add_argument("--no-verify", action="store_true", help="skip the tokenizer check")
    args = ap.parse_args(argv)
    export(args.gguf, args.out_dir, verify=not args.no_verify)
    print(args.out_dir)


if __name__ == "__main__":
    main()
