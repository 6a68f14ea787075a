// Which SIMD level the CPU kernels run at. Detected once from CPUID; the environment
// variable LMDEPLOY_CPU_ISA=scalar|avx2|avx512 lowers it (e.g. to force the AVX2 path on an
// AVX-512 machine); asking for more than the CPU has is an error. Tests switch levels with
// set_cpu_isa() to compare every variant with the scalar reference.
#pragma once

#include <string>

namespace lmd {

enum class CpuIsa { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

// Highest level this CPU (and OS) supports: AVX2+FMA+F16C; AVX-512 F/BW/VL/DQ/VNNI.
CpuIsa detected_cpu_isa();
// The level kernels use now (detected, lowered by LMDEPLOY_CPU_ISA).
CpuIsa cpu_isa();
// Overrides the active level; throws lmd::Error when the CPU lacks it.
void set_cpu_isa(CpuIsa isa);
const char* cpu_isa_name(CpuIsa isa);
// "scalar" | "avx2" | "avx512"; throws lmd::Error naming the value otherwise.
CpuIsa parse_cpu_isa(const std::string& name);

}  // namespace lmd
