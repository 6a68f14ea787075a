# Sourced by tools/setup.sh (llama-cpp-python, the oracle) and tools/build_llama_batched_bench.sh
# (llama.cpp's own benchmark): the CMake flags both llama.cpp builds use.
#
# llama_cpp_cmake_args: this machine's SIMD features (what GGML_NATIVE would pick) but never
# AMX: ggml's AMX matmul segfaults on Sapphire Rapids VMs (llama.cpp issue 20824; seen here on
# 2026-12-07 in the first decode of SmolLM2 Q4_1), and the oracle must not crash.
llama_cpp_cmake_args() {
  local flags args="-DGGML_NATIVE=OFF"
  flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
  has() { [[ "$flags" == *" $1 "* ]]; }
  has sse4_2 && args+=" -DGGML_SSE42=ON"
  has f16c && args+=" -DGGML_F16C=ON"
  has fma && args+=" -DGGML_FMA=ON"
  has bmi2 && args+=" -DGGML_BMI2=ON"
  has avx && args+=" -DGGML_AVX=ON"
  has avx2 && args+=" -DGGML_AVX2=ON"
  has avx_vnni && args+=" -DGGML_AVX_VNNI=ON"
  if has avx512f && has avx512cd && has avx512vl && has avx512dq && has avx512bw; then
    args+=" -DGGML_AVX512=ON"
    has avx512vbmi && args+=" -DGGML_AVX512_VBMI=ON"
    has avx512_vnni && args+=" -DGGML_AVX512_VNNI=ON"
    has avx512_bf16 && args+=" -DGGML_AVX512_BF16=ON"
  fi
  echo "$args -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
}

