// A shared library opened at run time rather than linked: dlopen(RTLD_NOW | RTLD_LOCAL), then
// dlsym of named symbols. For big optional libraries (cuBLAS, NCCL) that only some runs use:
// a binary that never calls them neither maps them nor needs them installed.
//
//   auto lib = DynamicLibrary::open({"libnccl.so.2", "libnccl.so"}, "--device cuda --tp 2");
//   auto get_version = lib->function<ncclResult_t (*)(int*)>("ncclGetVersion");
//
// Errors are lmd::Error (kUnsupported) that name the library, the symbol and dlerror(), and
// say what needed the library, e.g.
//   "--device cuda --tp 2 needs libnccl.so.2: libnccl.so.2: cannot open shared object file: ...".
// Owns the handle: the destructor dlcloses it. Libraries that start threads or register
// atexit handlers (cuBLAS, NCCL) are kept open for the whole process by their owners instead.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace lmd {

// Where a run-time-loaded library came from and the version it reports (check_env).
struct LoadedLibraryInfo {
  std::string path;     // the mapped file
  std::string version;  // "13.0.2"
};

class DynamicLibrary {
 public:
  // Opens the first of `candidates` (sonames or paths, most specific first) that loads.
  // `needed_by` says what wants the library ("dense fp16 GEMM on --device cuda"); when none
  // loads, the error names candidates[0] and gives each candidate's dlerror().
  static std::unique_ptr<DynamicLibrary> open(const std::vector<std::string>& candidates,
                                              const std::string& needed_by);
  ~DynamicLibrary();
  DynamicLibrary(const DynamicLibrary&) = delete;
  DynamicLibrary& operator=(const DynamicLibrary&) = delete;

  // The address of `name`; throws naming the library, the symbol and dlerror() when absent.
  void* symbol(const char* name) const;
  // symbol() as a function pointer of type Fn (e.g. decltype(&ncclGetVersion)).
  template <typename Fn>
  Fn function(const char* name) const {
    return reinterpret_cast<Fn>(symbol(name));
  }

  // The candidate that was opened ("libnccl.so.2").
  const std::string& name() const { return name_; }
  // The file the dynamic linker mapped for it ("/usr/local/cuda-13.0/lib/libnccl.so.2").
  const std::string& path() const { return path_; }

 private:
  DynamicLibrary(void* handle, std::string name, std::string path)
      : handle_(handle), name_(std::move(name)), path_(std::move(path)) {}
  void* handle_;
  std::string name_, path_;
};

}  // namespace lmd
