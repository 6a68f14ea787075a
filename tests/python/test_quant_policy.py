"""quant_policy as users write it: config.ini (numbers or names) applies unless
--quant-policy is given; chat / serve api_server / serve gradio / lite ppl accept the
same values; unknown values are errors naming the value and the accepted ones
(docs/quantization.md, "quant_policy numbers"). Tiny model: fast."""

import re
import shutil
import subprocess

import pytest


def run(binary, *args, timeout=300):
    return subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def tiny_ws(lmd_binary, test_models, tmp_path_factory):
    ws = tmp_path_factory.mktemp("qp") / "ws"
    p = run(lmd_binary, "convert", "llama2", test_models / "tiny-llama-spm", "--dst_path", ws)
    assert p.returncode == 0, p.stderr
    return ws


def with_policy(ws, tmp_path, value):
    """A copy of the workspace whose config.ini says quant_policy = value."""
    dst = tmp_path / f"ws_{value}"
    shutil.copytree(ws, dst)
    ini = dst / "triton_models" / "weights" / "config.ini"
    text = ini.read_text()
    assert re.search(r"^quant_policy = 0$", text, re.M), text
    ini.write_text(re.sub(r"^quant_policy = 0$", f"quant_policy = {value}", text, flags=re.M))
    return dst


def chat(binary, ws, *flags):
    return run(binary, "chat", ws, "--prompt", "hello", "--max_new_tokens", 2, "--temperature", 0,
               "--log_level", "info", *flags)


KIND = {"0": None, "fp16": None, "4": "int8", "8": "int8", "int8": "int8", "16": "int4", "int4": "int4"}


@pytest.mark.parametrize("value", ["int8", "int4", "4", "8", "16", "fp16"])
def test_config_ini_value_applies(lmd_binary, tiny_ws, tmp_path, value):
    ws = with_policy(tiny_ws, tmp_path, value)
    p = chat(lmd_binary, ws)
    assert p.returncode == 0, p.stderr
    log = p.stdout + p.stderr
    kind = KIND[value]
    if kind is None:
        assert "KV cache: quant_policy" not in log, log
    else:
        assert re.search(rf"KV cache: quant_policy \d+ \({kind}\)", log), log


def test_flag_overrides_config_ini(lmd_binary, tiny_ws, tmp_path):
    ws = with_policy(tiny_ws, tmp_path, "int4")
    p = chat(lmd_binary, ws, "--quant-policy", "0")
    assert p.returncode == 0 and "KV cache: quant_policy" not in p.stdout + p.stderr, p.stderr
    p = chat(lmd_binary, ws, "--quant_policy", "int8")
    assert p.returncode == 0 and "quant_policy 4 (int8)" in p.stdout + p.stderr, p.stderr
    p = chat(lmd_binary, tiny_ws, "--quant-policy", "int4")  # config.ini says 0
    assert p.returncode == 0 and "quant_policy 16 (int4)" in p.stdout + p.stderr, p.stderr


def test_lite_ppl_uses_config_ini_and_flag(lmd_binary, tiny_ws, tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 20)
    ws = with_policy(tiny_ws, tmp_path, "int4")
    p = run(lmd_binary, "lite", "ppl", ws, "--dataset", text, "--max-tokens", 64)
    assert p.returncode == 0 and "kv int4" in p.stdout, p.stdout + p.stderr
    p = run(lmd_binary, "lite", "ppl", ws, "--dataset", text, "--max-tokens", 64, "--quant-policy", "fp16")
    assert p.returncode == 0 and "kv fp16" in p.stdout, p.stdout + p.stderr
    p = run(lmd_binary, "lite", "ppl", tiny_ws, "--dataset", text, "--max-tokens", 64, "--quant-policy", "16")
    assert p.returncode == 0 and "kv int4" in p.stdout, p.stdout + p.stderr


def test_unknown_value_in_config_ini(lmd_binary, tiny_ws, tmp_path):
    ws = with_policy(tiny_ws, tmp_path, "int5")
    p = chat(lmd_binary, ws)
    assert p.returncode != 0
    assert "config.ini" in p.stderr and "'int5'" in p.stderr and "int4" in p.stderr, p.stderr


@pytest.mark.parametrize("cmd", [["chat"], ["serve", "api_server"], ["serve", "gradio"], ["lite", "ppl"]])
def test_unknown_flag_value(lmd_binary, tiny_ws, tmp_path, cmd):
    extra = ["--dataset", tmp_path / "none.txt"] if cmd == ["lite", "ppl"] else []
    p = run(lmd_binary, *cmd, tiny_ws, *extra, "--quant-policy", "3", timeout=60)
    assert p.returncode != 0
    assert "quant_policy '3'" in p.stderr and "int8" in p.stderr and "int4" in p.stderr, p.stderr
    assert "\n" not in p.stderr.strip(), "errors are one line"


def test_python_api_default_reads_config_ini(lmd_binary, tiny_ws, tmp_path):
    """TurbomindEngineConfig / from_pretrained without quant_policy use config.ini (as the CLI
    does without --quant-policy); quant_policy=0 overrides it. Seen in the KV block size."""
    import os
    import sys
    from pathlib import Path
    pydir = Path(os.environ.get("LMD_PYTHON_DIR") or Path(lmd_binary).resolve().parent.parent / "python")
    assert list((pydir / "lmdeploy").glob("_turbomind*.so")), f"no Python bindings in {pydir} (-DLMDEPLOY_PYTHON=ON)"
    ws = with_policy(tiny_ws, tmp_path, "int4")
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import lmdeploy\n"
        "from lmdeploy.messages import TurbomindEngineConfig as C\n"
        "d = lmdeploy.pipeline(sys.argv[2], backend_config=C(cache_max_entry_count=8)).stats().kv_block_bytes\n"
        "o = lmdeploy.pipeline(sys.argv[2], backend_config=C(cache_max_entry_count=8, quant_policy=0))"
        ".stats().kv_block_bytes\n"
        "print(C().quant_policy, d, o)\n")
    p = subprocess.run([sys.executable, "-c", script, str(pydir), str(ws)], capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    default_policy, int4_bytes, fp16_bytes = map(int, p.stdout.split()[-3:])
    assert default_policy == -1
    assert int4_bytes < fp16_bytes, p.stdout  # int4 codes + per-row params vs fp16
