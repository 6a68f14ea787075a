"""KV-cache quantisation exactness, numpy side.

tools/quant_kv_golden.py computes the int8 / int4 (online) and static int8 codes of
docs/quantization.md in numpy float32 and writes tests/data/kv_quant/golden.txt; the C++
test KvQuantGolden.MatchesNumpyBitExactly asserts kernels/common/kv_quant.h reproduces every
bit of it. Here: the committed file is exactly what the oracle writes today (no hand edits,
no stale data), and its records satisfy the documented properties.
"""

import subprocess
import sys

import numpy as np


def parse(path):
    recs, cur = [], None
    for line in path.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        tag, _, rest = line.partition(" ")
        if tag == "row":
            cur = {"name": rest, "parts": []}
            recs.append(cur)
        else:
            cur["parts"].append((tag, rest.split()))
    return recs


def f32(hexes):
    return np.array([int(h, 16) for h in hexes], dtype=np.uint32).view(np.float32)


def test_golden_file_is_the_oracles_output(repo_root, tools_dir, tmp_path):
    out = tmp_path / "golden.txt"
    subprocess.run([sys.executable, str(tools_dir / "quant_kv_golden.py"), str(out)], check=True,
                   capture_output=True)
    committed = repo_root / "tests" / "data" / "kv_quant" / "golden.txt"
    assert committed.read_text() == out.read_text(), "re-run python3 tools/quant_kv_golden.py"


def test_golden_records_follow_the_formulas(repo_root):
    recs = parse(repo_root / "tests" / "data" / "kv_quant" / "golden.txt")
    assert len(recs) >= 10
    for r in recs:
        parts = r["parts"]
        x = f32(parts[0][1][1:])
        # online int8: codes in [0, 255], min -> 0, max -> 255 (unless constant), error <= scale/2
        s8, z8 = f32(parts[1][1])
        q8 = np.array(parts[2][1], dtype=np.int64)
        d8 = f32(parts[3][1])
        assert q8.min() >= 0 and q8.max() <= 255
        assert z8 == x.min()
        if s8 > 0:
            assert q8[np.argmax(x)] == 255 and q8[np.argmin(x)] == 0
            assert np.all(np.abs(d8.astype(np.float64) - x) <= 0.5 * s8 * (1 + 1e-5) + 1e-6 * np.abs(x).max())
        else:
            assert np.all(q8 == 0) and np.all(d8 == x)
        np.testing.assert_array_equal(d8, (q8.astype(np.float32) * s8 + z8).astype(np.float32))
        # online int4: unpack low nibble = even element, same properties with 15 levels
        s4, z4 = f32(parts[4][1])
        b = np.array(parts[5][1], dtype=np.int64)
        q4 = np.empty(2 * len(b), dtype=np.int64)
        q4[0::2], q4[1::2] = b & 15, b >> 4
        d4 = f32(parts[6][1])
        assert np.float32(s4) == np.float32(x.max() - x.min()) / np.float32(15)
        np.testing.assert_array_equal(d4, (q4.astype(np.float32) * s4 + z4).astype(np.float32))
        # static int8: signed codes; the rows outside the (narrowed) range hit the clamp
        ss, zp = f32(parts[7][1])
        qs = np.array(parts[8][1], dtype=np.int64)
        assert qs.min() >= -128 and qs.max() <= 127
        np.testing.assert_array_equal(f32(parts[9][1]), (qs.astype(np.float32) * ss + zp).astype(np.float32))
    ties = next(r for r in recs if r["name"] == "int8 ties")
    q = np.array(ties["parts"][2][1], dtype=np.int64)
    x = f32(ties["parts"][0][1][1:])
    # x odd, scale 2: x / 2 = k + 0.5 rounds to the even neighbour
    odd = (x % 2 == 1)
    assert np.all(q[odd] % 2 == 0) and np.all(np.abs(q[odd] - x[odd] / 2) == 0.5)
