"""`lmdeploy lite`: the seed's quantisation pipeline on SmolLM2 with small settings
(16 samples x 256 tokens), file formats checked with numpy, and bad input.

Calibration text: GPL-3 and GFDL-1.3 from /usr/share/common-licenses; held-out text for
perplexity: Apache-2.0 (present on every Debian machine).
"""

import json
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

LICENSES = Path("/usr/share/common-licenses")
NO_SYSTEM = {
    "model_name": "chatml-nosys", "system": "", "meta_instruction": "", "eosys": "",
    "user": "<|im_start|>user\n", "eoh": "<|im_end|>\n", "assistant": "<|im_start|>assistant\n",
    "eoa": "<|im_end|>", "separator": "\n", "stop_words": ["<|im_end|>"],
}


def run(binary, *args, timeout=900, check=True):
    p = subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True, timeout=timeout)
    if check:
        assert p.returncode == 0, f"{args}\nstdout: {p.stdout[-2000:]}\nstderr: {p.stderr[-3000:]}"
    return p


def read_safetensors(path):
    """Minimal safetensors reader (header JSON + raw little-endian arrays)."""
    raw = Path(path).read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    dtypes = {"F32": np.float32, "F16": np.float16, "I32": np.int32}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + a:8 + n + b], dtype=dtypes[info["dtype"]]).reshape(info["shape"])
    return out


def awq_unpack(packed):
    """AutoAWQ gemm layout: int32 [rows, cols/8]; nibble k holds column 8*pc + order[k],
    order = 0, 2, 4, 6, 1, 3, 5, 7. Written from the layout description."""
    order = [0, 2, 4, 6, 1, 3, 5, 7]
    p = packed.view(np.uint32)
    rows, words = p.shape
    out = np.zeros((rows, words * 8), dtype=np.int32)
    for k in range(8):
        out[:, order[k]::8] = (p >> (4 * k)) & 15
    return out


def awq_dequant(t, base, group):
    q = awq_unpack(t[base + ".qweight"])           # [in, out]
    z = awq_unpack(t[base + ".qzeros"])            # [in/g, out]
    s = t[base + ".scales"].astype(np.float32)     # [in/g, out]
    zz = np.repeat(z, group, axis=0).astype(np.float32)
    ss = np.repeat(s, group, axis=0)
    return ((q.astype(np.float32) - zz) * ss).T    # [out, in]


@pytest.fixture(scope="module")
def texts(tmp_path_factory):
    d = tmp_path_factory.mktemp("texts")
    (d / "calib.txt").write_text((LICENSES / "GPL-3").read_text() + "\n" + (LICENSES / "GFDL-1.3").read_text())
    (d / "eval.txt").write_text((LICENSES / "Apache-2.0").read_text())
    (d / "empty.txt").write_text("")
    (d / "short.txt").write_text("Just a few words.")
    (d / "calib.jsonl").write_text("\n".join(json.dumps({"text": p}) for p in
                                             (LICENSES / "GPL-3").read_text().split("\n\n")))
    return d


@pytest.fixture(scope="module")
def smollm_hf(test_models):
    return test_models / "smollm2-hf"


@pytest.fixture(scope="module")
def kv_pipeline(lmd_binary, smollm_hf, texts, tmp_path_factory):
    """convert -> calibrate -> kv_qparams, as the seed does."""
    d = tmp_path_factory.mktemp("kvq")
    ws = d / "workspace"
    run(lmd_binary, "convert", "smollm", smollm_hf, "--dst_path", ws)
    work = d / "quant_output"
    p = run(lmd_binary, "lite", "calibrate", "--model", smollm_hf, "--calib_dataset", texts / "calib.txt",
            "--calib_samples", 16, "--calib_seqlen", 256, "--work_dir", work)
    p2 = run(lmd_binary, "lite", "kv_qparams", "--work_dir", work, "--turbomind_dir",
             ws / "triton_models" / "weights", "--kv_sym", "False", "--num_tp", 1)
    return {"ws": ws, "work": work, "calib_out": p.stdout + p.stderr, "kvq_out": p2.stdout}


def test_calibrate_stats_layout(kv_pipeline):
    work = kv_pipeline["work"]
    meta = json.loads((work / "calib_meta.json").read_text())
    assert meta["tokens"] == 16 * 256 and meta["num_layer"] == 30
    t = read_safetensors(work / "calib_stats.safetensors")
    kh, hd = meta["kv_head_num"], meta["head_dim"]
    assert t["key.layers.0.max"].shape == (kh, hd)
    assert t["inputs.layers.0.down.absmean"].shape == (meta["inter_size"],)
    for L in range(meta["num_layer"]):
        for site in ("qkv", "o", "gate_up", "down"):
            p = f"inputs.layers.{L}.{site}."
            assert np.all(t[p + "min"] <= t[p + "mean"]) and np.all(t[p + "mean"] <= t[p + "max"])
            assert np.allclose(t[p + "absmax"], np.maximum(np.abs(t[p + "min"]), np.abs(t[p + "max"])))
            assert np.all(t[p + "absmean"] >= np.abs(t[p + "mean"]) - 1e-6)


def test_kv_qparams_match_numpy_formula(kv_pipeline):
    t = read_safetensors(kv_pipeline["work"] / "calib_stats.safetensors")
    wdir = kv_pipeline["ws"] / "triton_models" / "weights"
    for L in (0, 13, 29):
        got = np.fromfile(wdir / f"layers.{L}.past_kv_scale.0.weight", dtype=np.float32)
        want = []
        for kv in ("key", "value"):
            hi = t[f"{kv}.layers.{L}.max"].max()
            lo = t[f"{kv}.layers.{L}.min"].min()
            want += [np.float32(hi - lo) / np.float32(255), np.float32(hi + lo) / np.float32(2)]
        np.testing.assert_array_equal(got, np.array(want, dtype=np.float32))


def test_chat_with_static_int8_kv(lmd_binary, kv_pipeline, tmp_path):
    tpl = tmp_path / "nosys.json"
    tpl.write_text(json.dumps(NO_SYSTEM))
    p = run(lmd_binary, "chat", kv_pipeline["ws"], "--quant_policy", 4, "--temperature", 0, "--max_new_tokens", 16,
            "--prompt", "What is the capital of France?", "--chat-template", tpl, "--log_level", "info",
            "--session-len", 512)
    assert "static kv_qparams" in p.stderr + p.stdout
    assert "Paris" in p.stdout, p.stdout


def test_ppl_fp_vs_kv_int8(lmd_binary, kv_pipeline, texts):
    def ppl(*flags):
        p = run(lmd_binary, "lite", "ppl", kv_pipeline["ws"], "--dataset", texts / "eval.txt",
                "--max-tokens", 512, *flags)
        return float(p.stdout.split()[1]), p.stdout
    fp, _ = ppl()
    st, out = ppl("--quant-policy", "4")
    assert "static" in out
    on, out = ppl("--quant-policy", "int8", "--kv-online")
    assert "online" in out
    assert 1.0 < fp < 100.0
    assert abs(st - fp) / fp < 0.05 and abs(on - fp) / fp < 0.05


def test_kv_qparams_wrong_tp_or_model(lmd_binary, kv_pipeline, test_models, tmp_path):
    wdir = kv_pipeline["ws"] / "triton_models" / "weights"
    p = run(lmd_binary, "lite", "kv_qparams", "--work_dir", kv_pipeline["work"], "--turbomind_dir", wdir,
            "--num_tp", 2, check=False)
    assert p.returncode != 0 and "tensor_para_size 1" in p.stderr, p.stderr
    other = tmp_path / "ws"
    run(lmd_binary, "convert", "tiny", test_models / "tiny-llama-spm", "--dst_path", other)
    p = run(lmd_binary, "lite", "kv_qparams", "--work_dir", kv_pipeline["work"], "--turbomind_dir",
            other / "triton_models" / "weights", check=False)
    assert p.returncode != 0 and "num_layer" in p.stderr, p.stderr


def test_bad_datasets(lmd_binary, smollm_hf, texts, tmp_path, monkeypatch):
    for f, msg in (("empty.txt", "is empty"), ("short.txt", "too short")):
        p = run(lmd_binary, "lite", "calibrate", "--model", smollm_hf, "--calib_dataset", texts / f,
                "--calib_samples", 2, "--calib_seqlen", 64, "--work_dir", tmp_path / "w", check=False)
        assert p.returncode != 0 and msg in p.stderr, p.stderr
    import os
    env = {**os.environ, "LMDEPLOY_CACHE_DIR": str(tmp_path / "cache")}
    p = subprocess.run([str(lmd_binary), "lite", "calibrate", "--model", str(smollm_hf), "--calib_dataset", "c4",
                        "--work_dir", str(tmp_path / "w")], capture_output=True, text=True, env=env)
    assert p.returncode != 0 and "datasets/c4" in p.stderr and "--calib_dataset" in p.stderr, p.stderr


def test_unknown_quant_policy(lmd_binary, smollm_hf, texts):
    p = run(lmd_binary, "lite", "ppl", smollm_hf, "--dataset", texts / "eval.txt", "--quant-policy", "7",
            check=False)
    assert p.returncode != 0 and "quant_policy '7'" in p.stderr, p.stderr


def test_awq_group_128_names_the_shape(lmd_binary, smollm_hf, tmp_path):
    p = run(lmd_binary, "lite", "auto_awq", "--model", smollm_hf, "--w_bits", 4, "--w_group_size", 128,
            "--work_dir", tmp_path, "--calib_dataset", "self", check=False)
    assert p.returncode != 0 and "576" in p.stderr and "w_group_size 128" in p.stderr, p.stderr


@pytest.fixture(scope="module")
def awq_pipeline(lmd_binary, smollm_hf, kv_pipeline, tmp_path_factory):
    """auto_awq (reusing calibrate's dataset from work_dir) -> convert --model-format awq."""
    d = tmp_path_factory.mktemp("awq")
    work = d / "quant_output"
    # calibrate's metadata tells auto_awq which data to use (the seed passes no dataset here)
    for f in ("calib_meta.json", "calib_stats.safetensors"):
        (work / f).parent.mkdir(parents=True, exist_ok=True)
        (work / f).write_bytes((kv_pipeline["work"] / f).read_bytes())
    run(lmd_binary, "lite", "auto_awq", "--model", smollm_hf, "--w_bits", 4, "--w_group_size", 64,
        "--work_dir", work, "--search_tokens", 128)
    ws = d / "workspace_quant"
    run(lmd_binary, "convert", "smollm", work, "--model-format", "awq", "--group-size", 64, "--dst_path", ws)
    return {"work": work, "ws": ws}


def test_awq_checkpoint_layout_and_chat(lmd_binary, awq_pipeline, tmp_path):
    work = awq_pipeline["work"]
    cfg = json.loads((work / "config.json").read_text())
    qc = cfg["quantization_config"]
    assert qc == {"quant_method": "awq", "version": "gemm", "bits": 4, "group_size": 64, "zero_point": True}
    assert (work / "tokenizer.json").exists()
    t = read_safetensors(work / "model.safetensors")
    base = "model.layers.0.mlp.down_proj"
    assert t[base + ".qweight"].shape == (1536, 576 // 8) and t[base + ".scales"].shape == (1536 // 64, 576)
    tpl = tmp_path / "nosys.json"
    tpl.write_text(json.dumps(NO_SYSTEM))
    p = run(lmd_binary, "chat", awq_pipeline["ws"], "--temperature", 0, "--max_new_tokens", 16,
            "--prompt", "What is the capital of France?", "--chat-template", tpl, "--session-len", 512)
    assert len(p.stdout.strip()) > 0


def test_rtn_checkpoint_unpacks_to_the_weights(lmd_binary, smollm_hf, tmp_path):
    """Round-to-nearest (no scaling): the numpy unpacker must give back each weight within
    half a quantisation step."""
    work = tmp_path / "rtn"
    run(lmd_binary, "lite", "auto_awq", "--model", smollm_hf, "--w_group_size", 64, "--search_scale", "False",
        "--work_dir", work)
    t = read_safetensors(work / "model.safetensors")
    src = read_safetensors(smollm_hf / "model.safetensors")
    for name in ("model.layers.0.self_attn.k_proj", "model.layers.5.mlp.down_proj"):
        w = src[name + ".weight"].astype(np.float32)
        deq = awq_dequant(t, name, 64)
        step = np.repeat(t[name + ".scales"].astype(np.float32), 64, axis=0).T
        assert deq.shape == w.shape
        assert np.all(np.abs(deq - w) <= step * 0.5 + 1e-3 * np.abs(w) + 1e-6)


def test_internlm_o_bias_logits_match_numpy(lmd_binary, test_models, tmp_path):
    """InternLM v1's o_proj bias (LayerWeights::bo): HF dir and its converted workspace both
    match the numpy reference forward (tools/numpy_llama.py adds o_proj.bias)."""
    import numpy_llama
    src = test_models / "tiny-internlm"
    ref_model = numpy_llama.load(str(src), np.float64)
    assert ref_model.maybe("model.layers.0.self_attn.o_proj.bias") is not None
    assert np.any(ref_model.maybe("model.layers.0.self_attn.o_proj.bias") != 0)
    ids = [1, 5, 9, 23, 7, 42, 3, 11]
    ref = numpy_llama.logits(ref_model, ids)
    ws = tmp_path / "ws"
    run(lmd_binary, "convert", "internlm-chat-7b", src, "--dst_path", ws)
    for path in (src, ws):
        out = tmp_path / "l.npy"
        run(lmd_binary, "logits", path, "--tokens", " ".join(map(str, ids)), "--out", out, "--exact", "--kv", "f32")
        ours = np.load(out)
        assert np.abs(ours - ref).max() <= 1e-3 * np.abs(ref).max(), path


def test_awq_from_gguf_keeps_tokenizer_and_template(lmd_binary, model_path, texts, tmp_path):
    """auto_awq on the .gguf itself: the checkpoint carries tokenizer.gguf (+ the GGUF's chat
    template in tokenizer_config.json); convert --model-format awq copies the tokenizer and
    chat on both picks the model's template."""
    work = tmp_path / "awq"
    run(lmd_binary, "lite", "auto_awq", "--model", model_path, "--w_group_size", 64, "--search_scale", "False",
        "--work_dir", work, "--calib_dataset", texts / "calib.txt", "--calib_samples", 2, "--calib_seqlen", 64)
    assert (work / "tokenizer.gguf").exists()
    assert "<|im_start|>" in json.loads((work / "tokenizer_config.json").read_text())["chat_template"]
    ws = tmp_path / "ws"
    run(lmd_binary, "convert", "smollm", work, "--model-format", "awq", "--group-size", 64, "--dst_path", ws)
    assert (ws / "triton_models" / "tokenizer" / "tokenizer.gguf").exists()
    for path in (work, ws):
        p = run(lmd_binary, "chat", path, "--temperature", 0, "--max_new_tokens", 8, "--session-len", 256,
                "--prompt", "What is the capital of France?", "--log_level", "info")
        assert len(p.stdout.strip()) > 0, p.stderr
        if path == work:
            assert "chat template 'smollm2'" in p.stderr + p.stdout, p.stderr[-2000:]


def test_quant_policy_from_config_ini_static_kv(lmd_binary, kv_pipeline, tmp_path):
    """The seed's step 3: quant_policy = 4 written in config.ini (no flag) turns on the
    static int8 KV cache."""
    import re
    import shutil
    ws = tmp_path / "ws"
    shutil.copytree(kv_pipeline["ws"], ws)
    ini = ws / "triton_models" / "weights" / "config.ini"
    ini.write_text(re.sub(r"^quant_policy = \d+$", "quant_policy = 4", ini.read_text(), flags=re.M))
    p = run(lmd_binary, "chat", ws, "--temperature", 0, "--max_new_tokens", 8, "--prompt", "Hello",
            "--log_level", "info", "--session-len", 256)
    assert "static kv_qparams" in p.stderr + p.stdout, p.stderr[-2000:]


@pytest.mark.parametrize("cmd", ["ppl", "auto_awq"])
def test_empty_or_short_dataset_other_commands(lmd_binary, smollm_hf, texts, tmp_path, cmd):
    cases = (("empty.txt", "is empty"),) if cmd == "ppl" else (("empty.txt", "is empty"), ("short.txt", "too short"))
    for f, msg in cases:  # ppl scores any text of >= 2 tokens
        if cmd == "ppl":
            args = ["lite", "ppl", smollm_hf, "--dataset", texts / f]
        else:
            args = ["lite", "auto_awq", "--model", smollm_hf, "--w_group_size", 64, "--work_dir", tmp_path / "w",
                    "--calib_dataset", texts / f, "--calib_samples", 2, "--calib_seqlen", 64]
        p = run(lmd_binary, *args, check=False)
        assert p.returncode != 0 and msg in p.stderr, (f, p.stderr)
