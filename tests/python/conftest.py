"""Shared pytest fixtures for the Python tests (run by ctest as `python_tests`).

Fixtures that need a file FAIL with a message saying how to produce it; they never skip, so a
missing model or oracle cannot turn a red test into a silent pass.

  repo_root       the source tree (env LMD_SOURCE_DIR, else two levels above this file)
  lmd_binary      the lmdeploy binary (env LMD_BINARY, else build/bin/lmdeploy)
  model_path      the SmolLM2 GGUF (env LMD_MODEL_PATH, else tools/fetch_model.sh)
  test_models     dir of generated models (env LMD_TEST_MODELS, else build/test-models),
                  brought up to date by tools/prepare_test_models.sh
  llama_cpp       the llama_cpp module (llama-cpp-python, installed by tools/setup.sh)
  llama_vocab     llama_cpp.Llama on model_path, vocab only (token ids oracle)
  llama_model     llama_cpp.Llama on model_path with logits for every position
  requantized     requantized("Q4_K_M") -> model_path re-quantised by llama.cpp into that file
                  type (LLAMA_FTYPE_MOSTLY_<name>, allow_requantize), made once per session

tools/ is put on sys.path, so tests can `import numpy_llama, export_hf, make_tiny_model`.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

# numpy's BLAS threads spin-wait; on the shared 2-core machine (ctest runs suites side by side)
# one thread is several times faster for the reference forward's small matrices.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

REPO_ROOT = Path(os.environ.get("LMD_SOURCE_DIR") or Path(__file__).resolve().parents[2])
TOOLS_DIR = REPO_ROOT / "tools"
sys.path.insert(0, str(TOOLS_DIR))


def _run_tool(args, what):
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"{what} failed (exit {proc.returncode}): {' '.join(map(str, args))}\n"
                    f"{proc.stderr[-2000:]}", pytrace=False)
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def repo_root():
    return REPO_ROOT


@pytest.fixture(scope="session")
def tools_dir():
    return TOOLS_DIR


@pytest.fixture(scope="session")
def lmd_binary():
    path = Path(os.environ.get("LMD_BINARY") or REPO_ROOT / "build" / "bin" / "lmdeploy")
    if not path.is_file():
        pytest.fail(f"lmdeploy binary not found at {path}: build it with "
                    "`cmake -S . -B build && cmake --build build --target lmdeploy` "
                    "or set LMD_BINARY", pytrace=False)
    return path


@pytest.fixture(scope="session")
def model_path():
    env = os.environ.get("LMD_MODEL_PATH")
    if env:
        if not Path(env).is_file():
            pytest.fail(f"LMD_MODEL_PATH={env} does not exist; unset it to use "
                        "tools/fetch_model.sh", pytrace=False)
        return Path(env)
    return Path(_run_tool([str(TOOLS_DIR / "fetch_model.sh")], "tools/fetch_model.sh"))


@pytest.fixture(scope="session")
def test_models(model_path):
    out = Path(os.environ.get("LMD_TEST_MODELS") or REPO_ROOT / "build" / "test-models")
    # Idempotent and ~instant when up to date; regenerates models older than their scripts.
    env_model = {"LMD_MODEL_PATH": str(model_path)}
    proc = subprocess.run([str(TOOLS_DIR / "prepare_test_models.sh"), str(out)],
                          capture_output=True, text=True, env={**os.environ, **env_model})
    if proc.returncode != 0:
        pytest.fail(f"tools/prepare_test_models.sh {out} failed:\n{proc.stderr[-2000:]}",
                    pytrace=False)
    return out


@pytest.fixture(scope="session")
def llama_cpp():
    try:
        import llama_cpp as module
    except ImportError as e:
        pytest.fail(f"llama-cpp-python is not importable ({e}); install it with tools/setup.sh",
                    pytrace=False)
    return module


@pytest.fixture(scope="session")
def llama_vocab(llama_cpp, model_path):
    return llama_cpp.Llama(model_path=str(model_path), vocab_only=True, verbose=False)


@pytest.fixture(scope="session")
def llama_model(llama_cpp, model_path):
    return llama_cpp.Llama(model_path=str(model_path), logits_all=True, n_ctx=512, n_threads=1,
                           seed=0, verbose=False)


@pytest.fixture(scope="session")
def requantized(llama_cpp, model_path, tmp_path_factory):
    import ctypes
    made = {}
    out_dir = tmp_path_factory.mktemp("requantized")

    def make(ftype):
        if ftype not in made:
            params = llama_cpp.llama_model_quantize_default_params()
            params.ftype = getattr(llama_cpp, "LLAMA_FTYPE_MOSTLY_" + ftype)
            params.allow_requantize = True
            params.nthread = 2
            dst = out_dir / f"{model_path.stem}.{ftype}.gguf"
            rc = llama_cpp.llama_model_quantize(str(model_path).encode(), str(dst).encode(), ctypes.byref(params))
            if rc != 0:
                pytest.fail(f"llama_model_quantize {model_path} -> {ftype} failed ({rc})", pytrace=False)
            made[ftype] = dst
        return made[ftype]

    return make
