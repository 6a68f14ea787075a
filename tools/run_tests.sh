#!/usr/bin/env bash
# Runs every test from a fresh clone: installs what is missing (tools/setup.sh), runs the
# source checks (tools/check_layers.py, tools/check_doc_paths.py), builds
# (release, and a separate ASan+UBSan build), fetches the default model, generates the
# test models, then runs CTest in both builds. Exits non-zero when anything fails.
#
#   bash tools/run_tests.sh            # everything
#   LMD_SKIP_SANITIZE=1 bash tools/run_tests.sh   # release build only (faster)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
JOBS="${JOBS:-$(nproc)}"

bash tools/setup.sh

# Checks that need no build, first: the layering (cmake/layers.cmake, docs/architecture.md
# "Layers") and that every path a doc or comment names exists. Either failing fails the run.
python3 tools/check_layers.py
python3 tools/check_doc_paths.py

CUDA_FLAG=()
if ! command -v nvcc >/dev/null 2>&1 && [ ! -x /usr/local/cuda/bin/nvcc ]; then CUDA_FLAG=(-DLMDEPLOY_CUDA=OFF); fi
if [ -x /usr/local/cuda/bin/nvcc ]; then export PATH="/usr/local/cuda/bin:$PATH"; fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DLMDEPLOY_PYTHON=ON "${CUDA_FLAG[@]}"
cmake --build build -j"$JOBS"

LMD_MODEL_PATH="$(bash tools/fetch_model.sh)"
export LMD_MODEL_PATH
export LMD_TEST_MODELS="$ROOT/build/test-models"
# Screenshots of the web UI test land here (look at them).
export LMD_ARTIFACT_DIR="$ROOT/build/artifacts"
mkdir -p "$LMD_ARTIFACT_DIR"
bash tools/prepare_test_models.sh "$LMD_TEST_MODELS"

status=0
(cd build && ctest --output-on-failure -j"$JOBS" --timeout 1800) || status=1
# The CPU all-reduce of tensor parallelism under ThreadSanitizer (tests/tsan).
{ cmake --build build --target comm_tsan_test && build/bin/comm_tsan_test; } || status=1

if [ -z "${LMD_SKIP_SANITIZE:-}" ]; then
  # The C++ unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer.
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLMDEPLOY_SANITIZE=ON -DLMDEPLOY_CUDA=OFF
  # the C++ unit tests (the CUDA shim switches fiber stacks, which ASan does not follow)
  cmake --build build-asan -j"$JOBS" --target unit_tests lmdeploy
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
     ctest --output-on-failure -j"$JOBS" -E "python_tests|_NOT_BUILT" --timeout 1800) || status=1
fi
exit $status
