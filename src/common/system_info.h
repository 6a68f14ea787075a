// Facts about the machine for check_env and start-up logs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lmd {

struct SystemInfo {
  std::string cpu_model;
  int logical_cores = 0;
  std::vector<std::string> simd;  // avx2, fma, f16c, avx512f, avx512bw, avx512_vnni, avx_vnni, avx512_bf16
  uint64_t mem_total_bytes = 0;
  uint64_t mem_available_bytes = 0;
};

SystemInfo system_info();
// MemAvailable from /proc/meminfo (0 when unknown).
uint64_t available_memory_bytes();

}  // namespace lmd
