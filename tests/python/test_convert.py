"""`lmdeploy convert` checked against an oracle we did not write: the gguf Python package.

The SmolLM2 GGUF is converted with the binary; every tensor file of the workspace is read
with numpy following docs/workspace.md and compared bit for bit with gguf's dequantisation
(q/k rows un-permuted to half-split order as transformers does)."""
import configparser
import os
import subprocess

import numpy as np
import pytest
from gguf import GGUFReader
from gguf.quants import dequantize

BINARY = os.environ.get("LMD_BINARY", "build/bin/lmdeploy")
MODEL = os.environ.get("LMD_MODEL_PATH",
                       os.path.expanduser("~/.cache/lmdeploy/SmolLM2-135M-Instruct.Q4_1.gguf"))


def gguf_f32(reader, name):
    t = next(t for t in reader.tensors if t.name == name)
    return dequantize(t.data, t.tensor_type).astype(np.float32).reshape(
        [int(d) for d in reversed(t.shape)])


def unpermute(w, n_heads):
    rows = w.shape[0]
    return w.reshape(n_heads, rows // n_heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def read_matrix(wdir, base, dtype, rows, cols, group):
    """A workspace matrix as fp32, per docs/workspace.md."""
    p = os.path.join(wdir, base)
    if dtype == "int4":
        packed = np.fromfile(p + ".qweight", dtype=np.uint8)
        assert packed.size == rows * cols // 2
        q = np.empty(rows * cols, dtype=np.float32)
        q[0::2] = packed & 15
        q[1::2] = packed >> 4
        sz = np.fromfile(p + ".scales_zeros", dtype=np.float16).astype(np.float32)
        sz = sz.reshape(rows, cols // group, 2)
        q = q.reshape(rows, cols // group, group)
        return (q * sz[:, :, 0:1] + sz[:, :, 1:2]).reshape(rows, cols)
    if dtype == "int8":
        q = np.fromfile(p + ".qweight", dtype=np.int8).astype(np.float32).reshape(rows, cols // group, group)
        s = np.fromfile(p + ".scales", dtype=np.float16).astype(np.float32).reshape(rows, cols // group, 1)
        return (s * q).reshape(rows, cols)
    np_type = {"fp32": np.float32, "fp16": np.float16}[dtype]
    return np.fromfile(p + ".weight", dtype=np_type).astype(np.float32).reshape(rows, cols)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    if not os.path.exists(MODEL):
        pytest.fail(f"{MODEL} missing: run tools/fetch_model.sh")
    dst = tmp_path_factory.mktemp("ws") / "smol"
    subprocess.run([BINARY, "convert", "smollm", MODEL, "--dst-path", str(dst), "--tp", "3"],
                   check=True, capture_output=True)
    return dst


def test_workspace_matches_gguf_dequantisation(workspace):
    wdir = os.path.join(workspace, "triton_models", "weights")
    ini = configparser.ConfigParser()
    ini.read(os.path.join(wdir, "config.ini"))
    c = ini["llama"]
    tp, heads, kv = int(c["tensor_para_size"]), int(c["head_num"]), int(c["kv_head_num"])
    hd, hidden, inter = int(c["size_per_head"]), int(c["hidden_units"]), int(c["inter_size"])
    assert (tp, heads, kv, hd, hidden, inter) == (3, 9, 3, 64, 576, 1536)
    assert c["weight_type"] == "int4" and c["embedding_type"] == "int8"
    g4, g8 = int(c["group_size"]), int(c["int8_group_size"])
    r = GGUFReader(MODEL)

    emb = read_matrix(wdir, "tok_embeddings", "int8", int(c["vocab_size"]), hidden, g8)
    np.testing.assert_array_equal(emb, gguf_f32(r, "token_embd.weight"))
    norm = np.fromfile(os.path.join(wdir, "norm.weight"), dtype=np.float32)
    np.testing.assert_array_equal(norm, gguf_f32(r, "output_norm.weight"))

    for i in (0, 29):
        b = f"blk.{i}."
        q = unpermute(gguf_f32(r, b + "attn_q.weight"), heads)
        k = unpermute(gguf_f32(r, b + "attn_k.weight"), kv)
        v = gguf_f32(r, b + "attn_v.weight")
        qr, kr, ir = heads // tp * hd, kv // tp * hd, inter // tp
        for rank in range(tp):
            p = f"layers.{i}."
            qkv = read_matrix(wdir, p + f"attention.w_qkv.{rank}", "int4", qr + 2 * kr, hidden, g4)
            want = np.concatenate([q[rank * qr:(rank + 1) * qr], k[rank * kr:(rank + 1) * kr],
                                   v[rank * kr:(rank + 1) * kr]])
            np.testing.assert_array_equal(qkv, want)
            wo = read_matrix(wdir, p + f"attention.wo.{rank}", "int4", hidden, qr, g4)
            np.testing.assert_array_equal(wo, gguf_f32(r, b + "attn_output.weight")[:, rank * qr:(rank + 1) * qr])
            w1 = read_matrix(wdir, p + f"feed_forward.w1.{rank}", "int4", ir, hidden, g4)
            np.testing.assert_array_equal(w1, gguf_f32(r, b + "ffn_gate.weight")[rank * ir:(rank + 1) * ir])
            w2 = read_matrix(wdir, p + f"feed_forward.w2.{rank}", "int4", hidden, ir, g4)
            np.testing.assert_array_equal(w2, gguf_f32(r, b + "ffn_down.weight")[:, rank * ir:(rank + 1) * ir])


def test_tokenizer_gguf_is_vocab_only(workspace):
    tok = GGUFReader(os.path.join(workspace, "triton_models", "tokenizer", "tokenizer.gguf"))
    assert len(tok.tensors) == 0
    orig = GGUFReader(MODEL)
    f1, f2 = tok.fields["tokenizer.ggml.tokens"], orig.fields["tokenizer.ggml.tokens"]
    assert [bytes(f1.parts[j]) for j in f1.data] == [bytes(f2.parts[j]) for j in f2.data]
