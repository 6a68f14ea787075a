#!/usr/bin/env bash
# Builds llama.cpp's own batched benchmark (llama-batched-bench) from the llama.cpp sources
# that ship inside the llama-cpp-python sdist on PyPI (same version as the installed
# llama-cpp-python, so both llama.cpp figures in tools/compare_peers.py come from one
# llama.cpp). Nothing is committed: everything lives under build/peers/ (git-ignored) and a
# second run reuses it (prints the binary's path and exits).
#
#   bash tools/build_llama_batched_bench.sh            # -> build/peers/bin/llama-batched-bench
#   JOBS=1 bash tools/build_llama_batched_bench.sh     # compile jobs (default: nproc)
#   LLAMA_CPP_PYTHON_VERSION=0.3.36 ...                # sdist version (default 0.3.36)
#
# Build: Release, this CPU's SIMD features as GGML_NATIVE would pick them but never AMX
# (tools/llama_cpp_flags.sh: the same flags as the llama-cpp-python oracle), OpenMP (llama.cpp's default CPU threading), static libraries, only the
# llama-batched-bench target (no server, no tests, no network features).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "${ROOT}/tools/llama_cpp_flags.sh"
VER="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
OUT="${ROOT}/build/peers"
BIN="${OUT}/bin/llama-batched-bench"
JOBS="${JOBS:-$(nproc)}"

if [[ -x "${BIN}" ]]; then
  echo "${BIN}"
  exit 0
fi
mkdir -p "${OUT}/bin"
SDIST="${OUT}/llama_cpp_python-${VER}.tar.gz"
if [[ ! -f "${SDIST}" ]]; then
  echo "downloading the llama-cpp-python ${VER} sdist from PyPI ..." >&2
  python3 -m pip download "llama-cpp-python==${VER}" --no-binary :all: --no-deps --no-build-isolation \
    -d "${OUT}" >&2 || python3 -m pip download "llama-cpp-python==${VER}" --no-binary :all: --no-deps -d "${OUT}" >&2
fi
SRC="${OUT}/llama_cpp_python-${VER}/vendor/llama.cpp"
if [[ ! -f "${SRC}/CMakeLists.txt" ]]; then
  tar -xzf "${SDIST}" -C "${OUT}"
fi
[[ -f "${SRC}/tools/batched-bench/batched-bench.cpp" ]] || {
  echo "error: ${SRC}/tools/batched-bench/batched-bench.cpp not found in the sdist" >&2
  exit 1
}

cmake -S "${SRC}" -B "${OUT}/llama.cpp-build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
  $(llama_cpp_cmake_args) -DGGML_OPENMP=ON -DLLAMA_BUILD_COMMON=ON -DLLAMA_BUILD_TOOLS=ON \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF \
  -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_SUBPROCESS=OFF >&2
cmake --build "${OUT}/llama.cpp-build" --target llama-batched-bench -j "${JOBS}" >&2
cp "$(find "${OUT}/llama.cpp-build" -type f -name llama-batched-bench -perm -u+x | head -1)" "${BIN}"
echo "${BIN}"
