#include "core/cpu_features.h"

#include <cpuid.h>

#include <atomic>
#include <cstdlib>

#include "core/error.h"

namespace lmd {
namespace {

uint64_t xgetbv0() {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

CpuIsa detect() {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return CpuIsa::kScalar;
  const bool osxsave = c & (1u << 27), fma = c & (1u << 12), f16c = c & (1u << 29);
  if (!osxsave) return CpuIsa::kScalar;
  const uint64_t xcr0 = xgetbv0();
  const bool ymm_os = (xcr0 & 0x6) == 0x6, zmm_os = (xcr0 & 0xe6) == 0xe6;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return CpuIsa::kScalar;
  const bool avx2 = b & (1u << 5);
  const bool avx512f = b & (1u << 16), avx512dq = b & (1u << 17), avx512bw = b & (1u << 30),
             avx512vl = b & (1u << 31), avx512vnni = c & (1u << 11);
  if (!(ymm_os && avx2 && fma && f16c)) return CpuIsa::kScalar;
  if (zmm_os && avx512f && avx512dq && avx512bw && avx512vl && avx512vnni) return CpuIsa::kAvx512;
  return CpuIsa::kAvx2;
}

std::atomic<int>& active() {
  static std::atomic<int> isa([] {
    CpuIsa best = detected_cpu_isa();
    if (const char* env = std::getenv("LMDEPLOY_CPU_ISA")) {
      if (*env) {
        const CpuIsa want = parse_cpu_isa(env);
        LMD_CHECK(static_cast<int>(want) <= static_cast<int>(best))
            << "LMDEPLOY_CPU_ISA=" << env << ": this CPU supports at most " << cpu_isa_name(best);
        best = want;
      }
    }
    return static_cast<int>(best);
  }());
  return isa;
}

}  // namespace

CpuIsa detected_cpu_isa() {
  static const CpuIsa isa = detect();
  return isa;
}

CpuIsa cpu_isa() { return static_cast<CpuIsa>(active().load(std::memory_order_relaxed)); }

void set_cpu_isa(CpuIsa isa) {
  LMD_CHECK(static_cast<int>(isa) <= static_cast<int>(detected_cpu_isa()))
      << "set_cpu_isa: " << cpu_isa_name(isa) << " not supported by this CPU (max "
      << cpu_isa_name(detected_cpu_isa()) << ")";
  active().store(static_cast<int>(isa));
}

const char* cpu_isa_name(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kScalar: return "scalar";
    case CpuIsa::kAvx2: return "avx2";
    case CpuIsa::kAvx512: return "avx512";
  }
  return "?";
}

CpuIsa parse_cpu_isa(const std::string& name) {
  if (name == "scalar") return CpuIsa::kScalar;
  if (name == "avx2") return CpuIsa::kAvx2;
  if (name == "avx512") return CpuIsa::kAvx512;
  throw Error("LMDEPLOY_CPU_ISA: unknown level '" + name + "' (scalar|avx2|avx512)");
}

}  // namespace lmd
