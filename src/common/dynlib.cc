#include "common/dynlib.h"

#include <dlfcn.h>
#include <link.h>

#include "core/error.h"

namespace lmd {

namespace {

std::string last_dlerror() {
  const char* e = dlerror();
  return e ? e : "unknown dlerror";
}

}  // namespace

std::unique_ptr<DynamicLibrary> DynamicLibrary::open(const std::vector<std::string>& candidates,
                                                     const std::string& needed_by) {
  LMD_CHECK_KIND(!candidates.empty(), kInternal) << needed_by << ": no shared library name to load";
  std::string errors;
  for (const std::string& name : candidates) {
    // RTLD_NOW: a library missing one of its own dependencies fails here, not at a later call;
    // RTLD_LOCAL: its symbols do not leak into the global namespace.
    void* handle = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      errors += (errors.empty() ? "" : "; ") + last_dlerror();
      continue;
    }
    std::string path = name;
    link_map* map = nullptr;
    if (dlinfo(handle, RTLD_DI_LINKMAP, &map) == 0 && map && map->l_name && *map->l_name) path = map->l_name;
    return std::unique_ptr<DynamicLibrary>(new DynamicLibrary(handle, name, std::move(path)));
  }
  throw Error(needed_by + " needs " + candidates.front() + ": " + errors, Error::Kind::kUnsupported);
}

DynamicLibrary::~DynamicLibrary() { dlclose(handle_); }

void* DynamicLibrary::symbol(const char* name) const {
  dlerror();  // clear: a symbol may legitimately have the value null, only dlerror() tells
  void* p = dlsym(handle_, name);
  if (!p) {
    const char* e = dlerror();
    throw Error(path_ + ": symbol " + name + " not found (" + (e ? e : "its address is null") + ")",
                Error::Kind::kUnsupported);
  }
  return p;
}

}  // namespace lmd
