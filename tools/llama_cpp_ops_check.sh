#!/usr/bin/env bash
# Builds and runs tools/llama_cpp_ops_check.cc: our llama.cpp-numerics ops vs libggml's, bit for bit.
#   tools/llama_cpp_ops_check.sh [BUILD_DIR]      (BUILD_DIR holds lib/liblmdeploy_core.a; default build)
# Fetches the llama-cpp-python sdist of the installed version (PyPI) for ggml's headers.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build}
ver=$(python3 -c "import llama_cpp; print(llama_cpp.__version__)")
libdir=$(python3 -c "import llama_cpp, os; print(os.path.join(os.path.dirname(llama_cpp.__file__), 'lib'))")
work=${TMPDIR:-/tmp}/llama_cpp_ops_check
mkdir -p "$work"
if [ ! -d "$work/llama_cpp_python-$ver" ]; then
  python3 -m pip download "llama-cpp-python==$ver" --no-binary :all: --no-deps -d "$work" -q
  tar xzf "$work/llama_cpp_python-$ver.tar.gz" -C "$work"
fi
inc="$work/llama_cpp_python-$ver/vendor/llama.cpp/ggml/include"
g++ -O2 -std=c++17 -ffp-contract=off -I"$inc" -I"$src/src" -I"$src" "$src/tools/llama_cpp_ops_check.cc" \
    "$build/lib/liblmdeploy_core.a" -L"$libdir" -lggml -lggml-base -lggml-cpu -Wl,-rpath,"$libdir" \
    -lspdlog -lfmt -lpthread -o "$work/ops_check"
python3 -c "import llama_cpp; print(llama_cpp.llama_print_system_info().decode())"
"$work/ops_check"
