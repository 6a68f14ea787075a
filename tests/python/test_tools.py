"""Tests of the Python tooling: the GGUF -> HF exporter, the tiny-model maker, numpy_llama.

Oracles: the gguf package (dequantisation, GGUFWriter), llama.cpp (token ids, greedy tokens),
the safetensors package (file format), sentencepiece.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import export_hf
import make_tiny_model
import numpy_llama

# Twenty strings covering the pre-tokeniser's corners: digits split one by one, contractions,
# runs of spaces / newlines, unicode (accents, CJK, emoji), code, and control tokens in text.
TOKENIZER_STRINGS = [
    "Hello world",
    "The year 2024 had 366 days, not 365.",
    "3.14159265358979",
    "I'm sure you're right; they'll see we've done it, didn't we?",
    "  two leading spaces",
    "trailing spaces   ",
    "tabs\tand\t\ttabs",
    "line one\nline two\n\n\nline five",
    "naïve café résumé",
    "中文字符和日本語のテキスト",
    "emoji 🙂🚀 and ❤️",
    "def square(x):\n    return x ** 2  # comment",
    '{"key": [1, 2, 3], "nested": {"a": null}}',
    "<|im_start|>user\nWhat is 12*34?<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|>",
    "URL: https://example.com/path?q=1&r=two#frag",
    "ALL CAPS SHOUTING AND MiXeD cAsE",
    "Ünïcödé ñ ß ø å",
    "$100,000.00 (approx.) -- 50% off!!!",
    "",
]


@pytest.fixture(scope="session")
def smollm2_hf(test_models):
    return test_models / "smollm2-hf"


@pytest.fixture(scope="session")
def gguf_reader(model_path):
    return export_hf.open_gguf(str(model_path))


@pytest.fixture(scope="session")
def np_gguf(model_path):
    return numpy_llama.load(str(model_path))


@pytest.fixture(scope="session")
def np_hf(smollm2_hf):
    return numpy_llama.load(str(smollm2_hf))


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# ---------------------------------------------------------------------------------------------
# export_hf


def test_permutation_round_trip_and_pairing():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((3 * 8, 5))  # 3 heads of dim 8
    assert np.array_equal(export_hf.unpermute_rows(export_hf.permute_rows(w, 3), 3), w)
    # HF half-split pair (i, i + d/2) of head h must become GGUF adjacent pair (2i, 2i + 1).
    g = export_hf.permute_rows(w, 3)
    for h in range(3):
        for i in range(4):
            assert np.array_equal(g[h * 8 + 2 * i], w[h * 8 + i])
            assert np.array_equal(g[h * 8 + 2 * i + 1], w[h * 8 + i + 4])
    b = w[:, 0].copy()  # biases permute like the rows they belong to
    assert np.array_equal(export_hf.permute_rows(b, 3), g[:, 0])
    assert np.array_equal(export_hf.unpermute_rows(export_hf.permute_rows(b, 3), 3), b)


def test_export_tensors_equal_dequantised_gguf(smollm2_hf, gguf_reader):
    from safetensors.numpy import load_file  # independent reader of our hand-written file

    hf = load_file(str(smollm2_hf / "model.safetensors"))
    hp = export_hf.llama_hparams(gguf_reader)
    assert "lm_head.weight" not in hf  # tied embeddings
    assert len(hf) == len(gguf_reader.tensors) == 9 * hp["num_hidden_layers"] + 2
    for t in gguf_reader.tensors:
        ref = export_hf.gguf_tensor_f32(t)
        name = export_hf.hf_tensor_name(t.name)
        ours = hf[name]
        assert ours.dtype == np.float32, name
        if name.endswith("q_proj.weight"):
            ours = export_hf.permute_rows(ours, hp["num_attention_heads"])
        elif name.endswith("k_proj.weight"):
            ours = export_hf.permute_rows(ours, hp["num_key_value_heads"])
        assert ours.shape == ref.shape, name
        assert np.array_equal(ours, ref), f"{name} differs from dequantised {t.name}"
    # A spot check against llama.cpp's block layout: Q4_1 row 0 of blk.0.attn_v by hand.
    t = next(t for t in gguf_reader.tensors if t.name == "blk.0.attn_v.weight")
    block = t.data[0, :20].tobytes()
    d, m = np.frombuffer(block[:4], dtype=np.float16).astype(np.float32)
    qs = np.frombuffer(block[4:], dtype=np.uint8)
    manual = np.concatenate([(qs & 15) * d + m, (qs >> 4) * d + m]).astype(np.float32)
    assert np.array_equal(hf["model.layers.0.self_attn.v_proj.weight"][0, :32], manual)


def test_export_config_matches_gguf_metadata(smollm2_hf, gguf_reader):
    cfg = read_json(smollm2_hf / "config.json")
    meta = lambda k: gguf_reader.fields[k].contents()  # noqa: E731
    assert cfg["architectures"] == ["LlamaForCausalLM"] and cfg["model_type"] == "llama"
    assert cfg["hidden_size"] == meta("llama.embedding_length")
    assert cfg["num_hidden_layers"] == meta("llama.block_count")
    assert cfg["intermediate_size"] == meta("llama.feed_forward_length")
    assert cfg["num_attention_heads"] == meta("llama.attention.head_count")
    assert cfg["num_key_value_heads"] == meta("llama.attention.head_count_kv")
    assert cfg["max_position_embeddings"] == meta("llama.context_length")
    assert cfg["head_dim"] == meta("llama.rope.dimension_count")
    assert cfg["vocab_size"] == len(meta("tokenizer.ggml.tokens"))
    assert np.float32(cfg["rms_norm_eps"]) == np.float32(meta("llama.attention.layer_norm_rms_epsilon"))
    assert np.float32(cfg["rope_theta"]) == np.float32(meta("llama.rope.freq_base"))
    assert cfg["tie_word_embeddings"] is True
    assert cfg["torch_dtype"] == "float32"
    assert cfg["bos_token_id"] == meta("tokenizer.ggml.bos_token_id")
    assert cfg["eos_token_id"] == meta("tokenizer.ggml.eos_token_id")
    gen = read_json(smollm2_hf / "generation_config.json")
    assert gen["eos_token_id"] == cfg["eos_token_id"] and gen["bos_token_id"] == cfg["bos_token_id"]
    tok_cfg = read_json(smollm2_hf / "tokenizer_config.json")
    tokens = meta("tokenizer.ggml.tokens")
    assert tok_cfg["chat_template"] == meta("tokenizer.chat_template")
    assert tok_cfg["bos_token"] == tokens[cfg["bos_token_id"]]
    assert tok_cfg["eos_token"] == tokens[cfg["eos_token_id"]]


def test_tokenizer_json_matches_llama_cpp(smollm2_hf, llama_vocab):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(smollm2_hf / "tokenizer.json"))
    assert tok.get_vocab_size() == llama_vocab.n_vocab()
    for s in TOKENIZER_STRINGS:
        ours = tok.encode(s, add_special_tokens=False).ids
        ref = llama_vocab.tokenize(s.encode(), add_bos=False, special=True)
        assert ours == ref, f"{s!r}: tokenizer.json {ours} != llama.cpp {ref}"
        assert tok.decode(ours, skip_special_tokens=False) == s


def test_chat_template_renders_chatml(smollm2_hf):
    import jinja2

    tok_cfg = read_json(smollm2_hf / "tokenizer_config.json")
    text = jinja2.Environment().from_string(tok_cfg["chat_template"]).render(
        messages=[{"role": "user", "content": "hi"}], add_generation_prompt=True)
    assert text.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    assert text.endswith("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")


# ---------------------------------------------------------------------------------------------
# numpy_llama


PROMPTS = [
    "The capital of France is",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "1, 2, 3, 4,",
]


def test_numpy_llama_hf_export_equals_gguf(np_gguf, np_hf, smollm2_hf):
    from tokenizers import Tokenizer

    # Adjacent-pair RoPE on permuted GGUF rows vs half-split RoPE on the un-permuted export.
    tok = Tokenizer.from_file(str(smollm2_hf / "tokenizer.json"))
    ids = tok.encode(PROMPTS[1], add_special_tokens=False).ids
    a = numpy_llama.logits(np_gguf, ids)
    b = numpy_llama.logits(np_hf, ids)
    assert a.shape == (len(ids), np_gguf.cfg["vocab_size"])
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-4)


def test_numpy_llama_matches_llama_cpp(np_gguf, llama_model):
    for prompt in PROMPTS:
        ids = llama_model.tokenize(prompt.encode(), add_bos=False, special=True)
        ours = numpy_llama.logits(np_gguf, ids)
        llama_model.reset()
        llama_model.eval(ids)
        ref = np.array(llama_model.scores[: len(ids)], dtype=np.float64)
        # llama.cpp rounds activations to 8 bits for its quantised dot products, so logits agree
        # closely but not exactly; the greedy token after the prompt must be the same.
        assert int(ours[-1].argmax()) == int(ref[-1].argmax()), prompt
        for pos in range(len(ids)):
            assert np.corrcoef(ours[pos], ref[pos])[0, 1] > 0.99, (prompt, pos)


def test_numpy_llama_cli(tmp_path, test_models, tools_dir):
    model_dir = test_models / "tiny-internlm"
    out = tmp_path / "logits.npy"
    subprocess.run([sys.executable, str(tools_dir / "numpy_llama.py"), str(model_dir),
                    "--tokens", "1 5 9 300", "--out", str(out)], check=True, capture_output=True)
    got = np.load(out)
    want = numpy_llama.logits(numpy_llama.load(str(model_dir)), [1, 5, 9, 300])
    assert got.dtype == np.float32 and got.shape == (4, 512)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_numpy_llama_causal(test_models):
    # Logits at position t depend only on tokens <= t.
    m = numpy_llama.load(str(test_models / "tiny-llama-spm"))
    full = numpy_llama.logits(m, [1, 40, 41, 42, 43])
    prefix = numpy_llama.logits(m, [1, 40, 41])
    np.testing.assert_allclose(full[:3], prefix, rtol=1e-10, atol=1e-10)
    assert not np.allclose(full[3], full[4])


def _write_tiny_gguf(path, model_dir):
    """The tiny HF model as an F32 GGUF the way llama.cpp's converter writes it."""
    import gguf

    cfg = read_json(model_dir / "config.json")
    hf = export_hf.read_hf_weights(str(model_dir))
    to_gguf = {f"{v}.{w}": f"{k}.{w}" for k, v in export_hf._GLOBAL_NAMES.items()
               for w in ("weight", "bias")}
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(cfg["num_attention_heads"])
    w.add_head_count_kv(cfg["num_key_value_heads"])
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_rope_freq_base(cfg["rope_theta"])
    w.add_vocab_size(cfg["vocab_size"])
    for name, t in hf.items():
        if name.startswith("model.layers."):
            _, _, layer, rest = name.split(".", 3)
            part, kind = rest.rsplit(".", 1)
            short = {v: k for k, v in export_hf._LAYER_NAMES.items()}[part]
            gname = f"blk.{layer}.{short}.{kind}"
            if short == "attn_q":
                t = export_hf.permute_rows(t, cfg["num_attention_heads"])
            elif short == "attn_k":
                t = export_hf.permute_rows(t, cfg["num_key_value_heads"])
        else:
            gname = to_gguf[name]
        w.add_tensor(gname, np.ascontiguousarray(t, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_numpy_llama_gguf_rope_pairing_on_gqa(tmp_path, test_models):
    # Same weights as GGUF (permuted, adjacent RoPE) and HF (half-split): 4 heads, 2 KV heads.
    model_dir = test_models / "tiny-llama-spm"
    _write_tiny_gguf(tmp_path / "tiny.gguf", model_dir)
    ids = [1, 17, 99, 250, 7, 3, 480]
    a = numpy_llama.logits(numpy_llama.load(str(tmp_path / "tiny.gguf")), ids)
    b = numpy_llama.logits(numpy_llama.load(str(model_dir)), ids)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)


# ---------------------------------------------------------------------------------------------
# make_tiny_model / prepare_test_models


def _header(path):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        return json.loads(f.read(n))


@pytest.mark.parametrize("name,arch,dtype,kv_heads,files", [
    ("tiny-llama-spm", "LlamaForCausalLM", "F16", 2, 2),
    ("tiny-internlm", "InternLMForCausalLM", "F32", 4, 1),
    ("tiny-llama-bf16", "LlamaForCausalLM", "BF16", 2, 1),
])
def test_tiny_model_layout(test_models, name, arch, dtype, kv_heads, files):
    import sentencepiece as spm

    d = test_models / name
    cfg = read_json(d / "config.json")
    sp = spm.SentencePieceProcessor(model_file=str(d / "tokenizer.model"))
    assert cfg["architectures"] == [arch]
    assert cfg["vocab_size"] == sp.get_piece_size() == 512
    assert cfg.get("num_key_value_heads", cfg["num_attention_heads"]) == kv_heads
    if files == 1:
        shards = ["model.safetensors"]
    else:
        index = read_json(d / "model.safetensors.index.json")
        shards = sorted(set(index["weight_map"].values()))
        assert shards == [f"model-{i:05d}-of-{files:05d}.safetensors" for i in range(1, files + 1)]
    headers = {}
    for s in shards:
        h = _header(d / s)
        h.pop("__metadata__")
        if files > 1:
            assert all(index["weight_map"][n] == s for n in h)
        headers.update(h)
    assert {h["dtype"] for h in headers.values()} == {dtype}
    hidden, head_dim = cfg["hidden_size"], cfg["hidden_size"] // cfg["num_attention_heads"]
    assert headers["model.layers.0.self_attn.k_proj.weight"]["shape"] == [kv_heads * head_dim, hidden]
    assert headers["lm_head.weight"]["shape"] == [cfg["vocab_size"], hidden]
    has_bias = "model.layers.1.self_attn.o_proj.bias" in headers
    assert has_bias == (arch == "InternLMForCausalLM") == bool(cfg.get("bias", False))
    logits = numpy_llama.logits(numpy_llama.load(str(d)), sp.encode("the license terms"))
    assert np.all(np.isfinite(logits)) and logits.std() > 0.1


def test_tiny_tokenizer_round_trips_with_byte_fallback(test_models):
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(test_models / "tiny-llama-spm" / "tokenizer.model"))
    assert (sp.unk_id(), sp.bos_id(), sp.eos_id()) == (0, 1, 2)
    for s in ["Permission is hereby granted", "你好, wörld 🙂", "x = 1\n\ty = 2"]:
        assert sp.decode(sp.encode(s)) == s
    assert any(sp.id_to_piece(i).startswith("<0x") for i in sp.encode("🙂"))


def test_tiny_dtypes_are_roundings_of_the_same_weights(tmp_path):
    for dtype in ("f32", "f16", "bf16"):
        make_tiny_model.make(str(tmp_path / dtype), "llama", seed=7, dtype=dtype)
    f32 = export_hf.read_hf_weights(str(tmp_path / "f32"))
    f16 = export_hf.read_hf_weights(str(tmp_path / "f16"))
    bf16 = export_hf.read_hf_weights(str(tmp_path / "bf16"))
    for name, w in f32.items():
        assert np.array_equal(f16[name], w.astype(np.float16).astype(np.float32)), name
        np.testing.assert_allclose(bf16[name], w, rtol=2 ** -8, atol=0)


def test_bf16_rounding_is_nearest_even():
    x = np.array([1.0, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20, -2.5, 65504.0], np.float32)
    got = export_hf.bf16_bits_to_f32(export_hf.f32_to_bf16_bits(x))
    want = np.array([1.0, 1.0, 1 + 2 ** -6, 1 + 2 ** -7, -2.5, 65536.0], np.float32)
    assert np.array_equal(got, want)


def test_safetensors_writer_is_read_by_the_package(tmp_path):
    from safetensors.numpy import load_file

    tensors = {"a": np.arange(6, dtype=np.float16).reshape(2, 3),
               "b": np.array([1.5, -2.0], dtype=np.float32),
               "c": np.arange(5, dtype=np.int32)}
    export_hf.write_safetensors(str(tmp_path / "x.safetensors"), tensors)
    got = load_file(str(tmp_path / "x.safetensors"))
    assert got.keys() == tensors.keys()
    for k, v in tensors.items():
        assert got[k].dtype == v.dtype and np.array_equal(got[k], v)


def test_prepare_test_models_is_idempotent(test_models, tools_dir):
    stamp = (test_models / "tiny-internlm" / "config.json").stat().st_mtime_ns
    subprocess.run([str(tools_dir / "prepare_test_models.sh"), str(test_models)], check=True,
                   capture_output=True)
    assert (test_models / "tiny-internlm" / "config.json").stat().st_mtime_ns == stamp


def test_fetch_model_uses_cache_dir_rule(tmp_path, model_path, tools_dir):
    # A model already in $XDG_CACHE_HOME/lmdeploy is found without any download.
    cache = tmp_path / "xdg" / "lmdeploy"
    cache.mkdir(parents=True)
    (cache / model_path.name).symlink_to(model_path)
    env = {k: v for k, v in os.environ.items() if k != "LMDEPLOY_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    out = subprocess.run([str(tools_dir / "fetch_model.sh")], env=env, check=True,
                         capture_output=True, text=True).stdout.strip()
    assert out == str(cache / model_path.name)
    env["LMDEPLOY_CACHE_DIR"] = str(cache)
    env["XDG_CACHE_HOME"] = str(tmp_path / "elsewhere")
    out = subprocess.run([str(tools_dir / "fetch_model.sh")], env=env, check=True,
                         capture_output=True, text=True).stdout.strip()
    assert out == str(cache / model_path.name)


def test_gen_logits_golden(tmp_path, test_models, tools_dir):
    model_dir = test_models / "tiny-llama-bf16"
    prefix = tmp_path / "golden"
    subprocess.run([sys.executable, str(tools_dir / "gen_logits_golden.py"), str(model_dir), str(prefix),
                    "--tokens", "1 30 31 32", "--top-k", "4", "--greedy", "3", "--full"],
                   check=True, capture_output=True)
    golden = read_json(str(prefix) + ".json")
    want = numpy_llama.logits(numpy_llama.load(str(model_dir)), [1, 30, 31, 32])
    assert golden["token_ids"] == [1, 30, 31, 32] and golden["vocab_size"] == 512
    assert golden["argmax"] == [int(i) for i in want.argmax(-1)]
    assert [p[0][0] for p in golden["top_k"]] == golden["argmax"]
    assert all(len(p) == 4 and p[0][1] >= p[1][1] >= p[3][1] for p in golden["top_k"])
    assert len(golden["greedy"]) == 3 and golden["greedy"][0] == golden["argmax"][-1]
    full = np.fromfile(str(prefix) + ".f32", dtype="<f4").reshape(4, 512)
    np.testing.assert_allclose(full, want, rtol=1e-6, atol=1e-6)
