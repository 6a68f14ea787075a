#!/usr/bin/env bash
# Install everything the project and its tests need on a fresh Debian bookworm machine, from
# Debian's packages and PyPI only. Idempotent and fast when everything is already present:
# apt runs only if a package is missing, pip only for requirements not met at the pinned version.
#
#   tools/setup.sh            # everything
#   LMD_SKIP_LLAMA_CPP=1 tools/setup.sh   # skip llama-cpp-python (a ~10+ min source build)
#
# llama-cpp-python is the independent oracle (tokenizer ids, greedy tokens, speed); it builds
# llama.cpp from source with native CPU flags, which is right here because CI runs on the same
# kind of machine as the developers.
set -euo pipefail

APT_PACKAGES=(
  build-essential cmake pkg-config git
  libcli11-dev nlohmann-json3-dev libinih-dev libsentencepiece-dev libcpp-httplib-dev
  libspdlog-dev libfmt-dev libgtest-dev libgmock-dev libpcre2-dev libboost-context-dev
  tmux python3-pip chromium chromium-driver
)

# Pinned to the versions the project is developed and tested with.
PIP_PACKAGES=(
  numpy==2.4.6
  gguf==0.19.0
  tokenizers==0.23.3
  sentencepiece==0.2.3
  jinja2==3.1.6
  pytest==9.2.0
  openai==3.54.0
  safetensors==0.8.0
  selenium==4.38.0
  pybind11==3.0.1
  scikit-build-core==0.11.6
)
LLAMA_CPP_PACKAGE="llama-cpp-python==0.3.36"

if [[ "$(id -u)" == 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  as_root=(false)
fi

# --- Debian packages --------------------------------------------------------------------------
missing_apt=()
for pkg in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing_apt+=("$pkg")
  fi
done
if ((${#missing_apt[@]})); then
  if [[ "${as_root[*]}" == false ]]; then
    echo "setup: need root (or sudo) to install: ${missing_apt[*]}" >&2
    exit 1
  fi
  echo "setup: apt-get install ${missing_apt[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get update -q
  "${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing_apt[@]}"
fi

# --- Python packages --------------------------------------------------------------------------
# Debian's own python3 is "externally managed" (PEP 668); this machine is dedicated to the
# project, so install into it anyway. Older pips ignore the variable.
export PIP_BREAK_SYSTEM_PACKAGES=1
export PIP_DISABLE_PIP_VERSION_CHECK=1
export PIP_ROOT_USER_ACTION=ignore

# Print the requirements that are not installed at exactly the pinned version.
mapfile -t unmet_pip < <(python3 - "${PIP_PACKAGES[@]}" <<'PY'
import sys
from importlib import metadata
for req in sys.argv[1:]:
    name, version = req.split("==")
    try:
        ok = metadata.version(name) == version
    except metadata.PackageNotFoundError:
        ok = False
    if not ok:
        print(req)
PY
)
if ((${#unmet_pip[@]})); then
  echo "setup: pip install ${unmet_pip[*]}" >&2
  python3 -m pip install --quiet "${unmet_pip[@]}"
fi

# llama.cpp's CPU flags (never AMX): tools/llama_cpp_flags.sh.
source "$(dirname "${BASH_SOURCE[0]}")/llama_cpp_flags.sh"

if [[ "${LMD_SKIP_LLAMA_CPP:-0}" != 1 ]]; then
  want_args="$LLAMA_CPP_PACKAGE $(llama_cpp_cmake_args)"
  # The flags it was built with sit beside the package: rebuild when they differ (e.g. an
  # install from before AMX was excluded, or a machine with other SIMD features).
  stamp="$(python3 -c 'import llama_cpp, os; print(os.path.join(os.path.dirname(llama_cpp.__file__), ".lmdeploy_build"))' 2>/dev/null || true)"
  if [[ -z "$stamp" || ! -f "$stamp" || "$(cat "$stamp")" != "$want_args" ]]; then
    echo "setup: building $LLAMA_CPP_PACKAGE from source (10+ minutes): $(llama_cpp_cmake_args)" >&2
    CMAKE_ARGS="$(llama_cpp_cmake_args)" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
      python3 -m pip install --quiet --no-cache-dir --force-reinstall --no-deps "$LLAMA_CPP_PACKAGE"
    python3 -m pip install --quiet "$LLAMA_CPP_PACKAGE"  # its dependencies, if any are missing
    stamp="$(python3 -c 'import llama_cpp, os; print(os.path.join(os.path.dirname(llama_cpp.__file__), ".lmdeploy_build"))')"
    echo "$want_args" > "$stamp"
  fi
fi

echo "setup: done" >&2
