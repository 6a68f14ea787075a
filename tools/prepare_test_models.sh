#!/usr/bin/env bash
# Generate the models the tests use, into DIR (default: $LMD_TEST_MODELS, else build/test-models):
#   smollm2-hf/       the default SmolLM2 GGUF exported to HF (f32 safetensors, tokenizer.json)
#   tiny-llama-spm/   tiny random Llama, SentencePiece tokenizer, f16, 2 safetensors shards
#   tiny-internlm/    tiny random InternLM v1 (q/k/v/o bias), SentencePiece tokenizer, f32
#   tiny-llama-bf16/  tiny random Llama, bf16, one safetensors file
#   tiny-qwen2/       tiny random Qwen2 (q/k/v bias, GQA 4/2, theta 1e6), f32, and the same
#                     weights as tiny-qwen2/tiny-qwen2.gguf in llama.cpp's naming
# Idempotent: a model is rebuilt only when its config.json is missing or older than the
# scripts that make it. Each model is written to a temporary dir and renamed into place, and a
# lock on DIR serialises concurrent runs (e.g. pytest and ctest at once).
set -euo pipefail

tools_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(dirname "$tools_dir")"
out_dir="${1:-${LMD_TEST_MODELS:-$repo_dir/build/test-models}}"
mkdir -p "$out_dir"
out_dir="$(cd "$out_dir" && pwd)"

exec 9>"$out_dir/.lock"
flock 9

# up_to_date NAME SCRIPT...: true when NAME/config.json exists and is newer than every SCRIPT.
up_to_date() {
  local cfg="$out_dir/$1/config.json"
  shift
  [[ -f "$cfg" ]] || return 1
  local s
  for s in "$@"; do
    [[ "$cfg" -nt "$s" ]] || return 1
  done
}

# build NAME COMMAND...: run COMMAND with "$tmp" as its output dir, then rename into place.
build() {
  local name="$1"
  shift
  local dst="$out_dir/$name" tmp="$out_dir/.$name.tmp"
  rm -rf "$tmp"
  echo "prepare_test_models: making $dst" >&2
  "${@//@OUT@/$tmp}" >/dev/null
  rm -rf "$dst"
  mv "$tmp" "$dst"
}

export_py="$tools_dir/export_hf.py"
tiny_py="$tools_dir/make_tiny_model.py"

if ! up_to_date smollm2-hf "$export_py" "$tools_dir/fetch_model.sh"; then
  gguf="${LMD_MODEL_PATH:-$("$tools_dir/fetch_model.sh")}"
  build smollm2-hf python3 "$export_py" "$gguf" @OUT@
fi
if ! up_to_date tiny-llama-spm "$tiny_py" "$export_py"; then
  build tiny-llama-spm python3 "$tiny_py" @OUT@ --arch llama --dtype f16 --shards 2 --seed 1
fi
if ! up_to_date tiny-internlm "$tiny_py" "$export_py"; then
  build tiny-internlm python3 "$tiny_py" @OUT@ --arch internlm --dtype f32 --seed 2
fi
if ! up_to_date tiny-llama-bf16 "$tiny_py" "$export_py"; then
  build tiny-llama-bf16 python3 "$tiny_py" @OUT@ --arch llama --dtype bf16 --seed 3
fi
if ! up_to_date tiny-qwen2 "$tiny_py" "$export_py"; then
  build tiny-qwen2 python3 "$tiny_py" @OUT@ --arch qwen2 --dtype f32 --seed 4 --gguf @OUT@/tiny-qwen2.gguf
fi
echo "$out_dir"
