// lmdeploy check_env: versions, build flags, CPU and memory, devices, libraries, default model.
#include <nlohmann/json.hpp>
#include <sentencepiece_processor.h>
#include <spdlog/version.h>
#include <fmt/core.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <CLI/Version.hpp>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>

#include "backend/device_registry.h"
#include "cli/command.h"
#include "core/error.h"
#include "common/paths.h"
#include "common/system_info.h"

namespace {

void row(const char* key, const std::string& value) { std::printf("%-22s %s\n", key, value.c_str()); }

// A library the CUDA backend dlopens at first use (cuBLAS, NCCL): loading it here tells
// whether `--device cuda` (dense GEMMs, --tp) will find it.
void loaded_library_row(const char* key, const std::function<lmd::LoadedLibraryInfo()>& load) {
  try {
    const lmd::LoadedLibraryInfo lib = load();
    row(key, lib.version + " (" + lib.path + ", loaded at first use)");
  } catch (const lmd::Error& e) {
    row(key, std::string("cannot be loaded: ") + e.what());
  }
}

std::string gib(uint64_t bytes) { return fmt::format("{:.1f} GiB", bytes / (1024.0 * 1024.0 * 1024.0)); }

void run_check_env() {
  const lmd::SystemInfo info = lmd::system_info();
  row("lmdeploy", LMDEPLOY_VERSION);
  row("compiler", "g++ " __VERSION__);
#ifdef NDEBUG
  row("build type", "release");
#else
  row("build type", "debug");
#endif
  row("CUDA build", LMDEPLOY_CUDA_ENABLED ? "on (kernels compiled for sm_80, sm_90)" : "off");
  const lmd::DeviceKind* cuda = lmd::find_device_kind("cuda");
  if (!cuda) {
    row("CUDA devices", "not built (this binary has no CUDA backend; --device cuda is unavailable)");
  } else {
    std::string why;
    const auto devs = cuda->devices(&why);
    if (devs.empty()) row("CUDA devices", "none (" + why + "; --device auto uses the CPU)");
    for (const auto& d : devs)
      row(d.index == 0 ? "CUDA devices" : "", fmt::format("cuda:{} {} ({}, {})", d.index, d.name, d.detail,
                                                          gib(d.total_bytes)));
    for (const lmd::LibraryProbe& lib : cuda->libraries) {
      if (lib.not_built.empty())
        loaded_library_row(lib.name.c_str(), lib.load);
      else
        row(lib.name.c_str(), "not built (" + lib.not_built + ")");
    }
  }
  row("CPU", info.cpu_model.empty() ? "unknown" : info.cpu_model);
  row("logical cores", std::to_string(info.logical_cores));
  std::string simd;
  for (const auto& s : info.simd) simd += (simd.empty() ? "" : " ") + s;
  row("SIMD", simd.empty() ? "none (scalar kernels)" : simd);
  row("memory", gib(info.mem_total_bytes) + " total, " + gib(info.mem_available_bytes) + " available");
  row("nlohmann_json", fmt::format("{}.{}.{}", NLOHMANN_JSON_VERSION_MAJOR, NLOHMANN_JSON_VERSION_MINOR,
                                   NLOHMANN_JSON_VERSION_PATCH));
  row("spdlog", fmt::format("{}.{}.{}", SPDLOG_VER_MAJOR, SPDLOG_VER_MINOR, SPDLOG_VER_PATCH));
  row("fmt", std::to_string(FMT_VERSION));
  row("CLI11", CLI11_VERSION);
  row("PCRE2", fmt::format("{}.{}", PCRE2_MAJOR, PCRE2_MINOR));
  row("sentencepiece", "linked (libsentencepiece)");
  const std::string model = lmd::default_model_path();
  row("default model", model + (std::filesystem::exists(model) ? "" : " (not downloaded yet)"));
  row("cache dir", lmd::cache_dir());
}

}  // namespace

LMD_REGISTER_COMMAND(70, [](CLI::App& root) {
  CLI::App* cmd = root.add_subcommand("check_env", "Print the environment: versions, CPU, memory, devices");
  cmd->alias("check-env");
  cmd->callback(run_check_env);
});
