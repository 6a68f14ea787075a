"""tools/quant_quality.py and tools/memory_kv.py: the parts that need no model run (the
agreement metric, the fp32 -> fp16 safetensors cast, --help)."""

import json
import struct
import subprocess
import sys

import numpy as np


def test_agreement_metric():
    import quant_quality
    ref = [["a", "b", "c", "d"], ["x", "y"]]
    assert quant_quality.agreement(ref, ref) == (2, 100.0)
    same, share = quant_quality.agreement(ref, [["a", "b", "z", "d"], ["q", "y"]])
    assert same == 0 and share == 25.0  # (2/4 + 0/2) / 2: nothing after the first difference counts


def test_tools_help(tools_dir):
    for tool in ("quant_quality.py", "memory_kv.py"):
        p = subprocess.run([sys.executable, str(tools_dir / tool), "--help"], capture_output=True, text=True)
        assert p.returncode == 0 and "usage" in p.stdout, p.stderr


def test_f16_cast_keeps_every_tensor(tmp_path, monkeypatch):
    import memory_kv
    src = tmp_path / "hf"
    src.mkdir()
    a = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    b = np.array([1, 2, 3], dtype=np.int32)
    header = {"w": {"dtype": "F32", "shape": [3, 4], "data_offsets": [0, 48]},
              "i": {"dtype": "I32", "shape": [3], "data_offsets": [48, 60]}}
    h = json.dumps(header).encode()
    (src / "model.safetensors").write_bytes(struct.pack("<Q", len(h)) + h + a.tobytes() + b.tobytes())
    (src / "config.json").write_text(json.dumps({"torch_dtype": "float32"}))
    calls = []
    monkeypatch.setattr(memory_kv.subprocess, "run", lambda args, **kw: calls.append(args))
    memory_kv.f16_workspace("lmdeploy", src, tmp_path / "out")
    raw = (tmp_path / "out" / "hf16" / "model.safetensors").read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    hd = json.loads(raw[8:8 + n])
    assert hd["w"]["dtype"] == "F16" and hd["i"]["dtype"] == "I32"
    lo, hi = hd["w"]["data_offsets"]
    np.testing.assert_array_equal(np.frombuffer(raw[8 + n + lo:8 + n + hi], np.float16), a.astype(np.float16).ravel())
    lo, hi = hd["i"]["data_offsets"]
    np.testing.assert_array_equal(np.frombuffer(raw[8 + n + lo:8 + n + hi], np.int32), b)
    assert json.loads((tmp_path / "out" / "hf16" / "config.json").read_text())["torch_dtype"] == "float16"
    assert calls and calls[0][1] == "convert"
