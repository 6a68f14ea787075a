#include "backend/device_registry.h"

#include <map>
#include <mutex>

#include "comm/cpu_communicator.h"
#include "common/system_info.h"
#include "core/error.h"

namespace lmd {
namespace {

struct Registry {
  std::mutex mu;
  std::map<std::string, DeviceKind> kinds;
  Registry() { kinds.emplace("cpu", cpu_device_kind()); }
};

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

DeviceKind cpu_device_kind() {
  DeviceKind k;
  k.name = "cpu";
  k.host_memory = true;
  k.devices = [](std::string*) {
    const SystemInfo s = system_info();
    DeviceInfo d;
    d.name = s.cpu_model.empty() ? "cpu" : s.cpu_model;
    d.detail = std::to_string(s.logical_cores) + " logical cores";
    d.total_bytes = s.mem_total_bytes;
    return std::vector<DeviceInfo>{d};
  };
  k.create = [](const BackendOptions& o) {
    return create_cpu_backend(CpuBackendOptions{o.threads, o.exact, o.llamacpp_numerics});
  };
  k.communicators = [](const std::vector<int>& devices) {
    return create_cpu_communicators(static_cast<int>(devices.size()));
  };
  return k;
}

void register_device_kind(DeviceKind kind) {
  LMD_CHECK(!kind.name.empty() && kind.create && kind.devices) << "register_device_kind: name, create and devices are required";
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  std::string name = kind.name;
  r.kinds[name] = std::move(kind);
}

const DeviceKind* find_device_kind(const std::string& name) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.kinds.find(name);
  return it == r.kinds.end() ? nullptr : &it->second;
}

std::vector<std::string> device_kind_names() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  std::vector<std::string> names{"cpu"};
  for (const auto& [name, kind] : r.kinds)
    if (name != "cpu") names.push_back(name);
  return names;
}

const DeviceKind& device_kind(const std::string& name) {
  if (const DeviceKind* k = find_device_kind(name)) return *k;
  std::string known;
  for (const std::string& n : device_kind_names()) known += (known.empty() ? "" : ", ") + n;
  const std::string what = name == "cuda" ? "no CUDA device (this build has no CUDA backend: configure with "
                                            "-DLMDEPLOY_CUDA=ON, see docs/cuda.md)"
                                          : "not a device kind of this build";
  throw Error("--device " + name + ": " + what + "; available: " + known, Error::Kind::kUnsupported);
}

std::string resolve_auto_device() {
  for (const std::string& n : device_kind_names()) {
    if (n == "cpu") continue;
    std::string why;
    if (!device_kind(n).devices(&why).empty()) return n;
  }
  return "cpu";
}

}  // namespace lmd
