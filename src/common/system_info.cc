#include "common/system_info.h"

#include <fstream>
#include <set>
#include <sstream>
#include <thread>

namespace lmd {
namespace {

uint64_t meminfo_kb(const std::string& key) {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) {
      std::istringstream s(line.substr(key.size() + 1));
      uint64_t kb = 0;
      s >> kb;
      return kb;
    }
  }
  return 0;
}

}  // namespace

uint64_t available_memory_bytes() { return meminfo_kb("MemAvailable") * 1024; }

SystemInfo system_info() {
  SystemInfo info;
  info.logical_cores = static_cast<int>(std::thread::hardware_concurrency());
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  std::set<std::string> flags;
  while (std::getline(in, line)) {
    if (info.cpu_model.empty() && line.rfind("model name", 0) == 0) {
      auto p = line.find(':');
      if (p != std::string::npos) info.cpu_model = line.substr(p + 2);
    }
    if (flags.empty() && line.rfind("flags", 0) == 0) {
      std::istringstream s(line.substr(line.find(':') + 1));
      std::string f;
      while (s >> f) flags.insert(f);
    }
  }
  for (const char* f : {"avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni",
                        "avx512_bf16"}) {
    if (flags.count(f)) info.simd.emplace_back(f);
  }
  info.mem_total_bytes = meminfo_kb("MemTotal") * 1024;
  info.mem_available_bytes = meminfo_kb("MemAvailable") * 1024;
  return info;
}

}  // namespace lmd
