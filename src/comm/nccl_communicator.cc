// Compiled by g++ into lmdeploy_core: NCCL and the CUDA runtime are plain C APIs, so no nvcc
// is needed. libnccl is not linked: its entry points are resolved with dlopen / dlsym
// (common/dynlib.h) when a communicator is created or the version is asked, so binaries that
// never run tensor parallelism on CUDA devices neither map it nor need it installed. Without
// LMDEPLOY_NCCL_ENABLED (no nvcc build, or nccl.h not found) the entry points at the bottom
// throw instead.
#include "comm/nccl_communicator.h"

#include <atomic>
#include <set>
#include <sstream>
#include <thread>

#include "core/error.h"

#if LMDEPLOY_NCCL_ENABLED
#include <cuda_runtime.h>
#include <nccl.h>

#include "common/dynlib.h"
#include "common/logging.h"
#endif

namespace lmd {

#if LMDEPLOY_NCCL_ENABLED

namespace {

// The NCCL calls this file makes, resolved from the library (signatures from nccl.h).
struct NcclApi {
  std::unique_ptr<DynamicLibrary> lib;
  decltype(&ncclGetVersion) get_version = nullptr;
  decltype(&ncclCommInitAll) comm_init_all = nullptr;
  decltype(&ncclAllReduce) all_reduce = nullptr;
  decltype(&ncclCommGetAsyncError) comm_get_async_error = nullptr;
  decltype(&ncclCommAbort) comm_abort = nullptr;
  decltype(&ncclCommDestroy) comm_destroy = nullptr;
  decltype(&ncclGetErrorString) get_error_string = nullptr;
};

// Loads libnccl.so.<NCCL_MAJOR> (the ABI of the nccl.h compiled against) on the first call;
// `needed_by` says what wants it, for the error when it cannot be loaded ("--device cuda --tp 2
// needs libnccl.so.2: ..."). A failed load leaves nothing behind and is tried again by the next
// call. Never closed: NCCL keeps proxy threads and its own atexit handling.
const NcclApi& nccl(const std::string& needed_by) {
  static const NcclApi* const api = [&] {
    const std::string soname = "libnccl.so." + std::to_string(NCCL_MAJOR);
    std::vector<std::string> candidates{soname};
#ifdef LMD_NCCL_LIBRARY_DIR  // where cmake found libnccl (cmake/cuda.cmake), e.g. under $NCCL_HOME
    candidates.push_back(std::string(LMD_NCCL_LIBRARY_DIR) + "/" + soname);
#endif
    candidates.push_back("libnccl.so");
    auto a = std::make_unique<NcclApi>();
    a->lib = DynamicLibrary::open(candidates, needed_by);
    a->get_version = a->lib->function<decltype(&ncclGetVersion)>("ncclGetVersion");
    a->comm_init_all = a->lib->function<decltype(&ncclCommInitAll)>("ncclCommInitAll");
    a->all_reduce = a->lib->function<decltype(&ncclAllReduce)>("ncclAllReduce");
    a->comm_get_async_error = a->lib->function<decltype(&ncclCommGetAsyncError)>("ncclCommGetAsyncError");
    a->comm_abort = a->lib->function<decltype(&ncclCommAbort)>("ncclCommAbort");
    a->comm_destroy = a->lib->function<decltype(&ncclCommDestroy)>("ncclCommDestroy");
    a->get_error_string = a->lib->function<decltype(&ncclGetErrorString)>("ncclGetErrorString");
    return a.release();
  }();
  return *api;
}

constexpr const char* kNeededForVersion = "NCCL (tensor parallelism across CUDA devices)";

void nccl_check(const NcclApi& api, ncclResult_t r, const char* call) {
  if (r != ncclSuccess)
    throw Error(std::string("NCCL: ") + call + " failed: " + api.get_error_string(r) + " (ncclResult " +
                    std::to_string(static_cast<int>(r)) + ")",
                Error::Kind::kUnsupported);
}

void cuda_check(cudaError_t e, const char* call, int device) {
  if (e != cudaSuccess)
    throw Error(std::string("NCCL communicator on CUDA device ") + std::to_string(device) + ": " + call +
                    " failed: " + cudaGetErrorString(e),
                Error::Kind::kUnsupported);
}

class NcclCommunicator : public Communicator {
 public:
  // Takes ownership of `comm` (made by api.comm_init_all for `device`).
  NcclCommunicator(const NcclApi& api, ncclComm_t comm, int rank, int size, int device)
      : api_(api), comm_(comm), rank_(rank), size_(size), device_(device) {
    try {
      cuda_check(cudaSetDevice(device_), "cudaSetDevice", device_);
      cuda_check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreateWithFlags", device_);
      cuda_check(cudaMalloc(reinterpret_cast<void**>(&scratch_), sizeof(float)), "cudaMalloc(1 float)", device_);
    } catch (...) {
      release();
      throw;
    }
  }
  ~NcclCommunicator() override { release(); }
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  // data: device memory on device_ (count floats), fully written by the caller's stream.
  void all_reduce_sum(float* data, size_t count) override {
    if (count == 0) return;
    enter();
    nccl_check(api_, api_.all_reduce(data, data, count, ncclFloat, ncclSum, comm_, stream_), "ncclAllReduce");
    wait("ncclAllReduce");
  }

  void barrier() override {
    enter();
    nccl_check(api_, api_.all_reduce(scratch_, scratch_, 1, ncclFloat, ncclSum, comm_, stream_),
               "ncclAllReduce (barrier)");
    wait("ncclAllReduce (barrier)");
  }

  // Any thread: the rank's own thread acts on it in its current or next collective.
  void abort() override { abort_requested_.store(true, std::memory_order_release); }
  // A communicator still alive (its rank was not inside a collective) is re-armed; an aborted
  // one stays dead and keeps throwing.
  void reset() override {
    if (comm_) abort_requested_.store(false, std::memory_order_release);
  }

 private:
  void enter() {
    LMD_CHECK_KIND(comm_ != nullptr, kInternal)
        << "NCCL communicator (rank " << rank_ << ", device " << device_
        << ") was aborted after a failed step; create the model again";
    if (abort_requested_.load(std::memory_order_acquire)) kill("another rank failed in this step");
    cuda_check(cudaSetDevice(device_), "cudaSetDevice", device_);  // the calling thread's device
  }

  // Polls rather than cudaStreamSynchronize so that abort() from a failing rank's thread can
  // unblock a rank waiting for it (NCCL's documented pattern: ncclCommAbort from the thread
  // that owns the communicator once the failure is noticed). Best effort: an enqueue that
  // blocks inside NCCL itself (e.g. connection setup waiting for a peer) is not interrupted. A failed collective leaves the
  // communicator unusable: NCCL's asynchronous error (e.g. a peer that died) is reported
  // rather than only the stream's.
  void wait(const char* what) {
    for (;;) {
      const cudaError_t e = cudaStreamQuery(stream_);
      if (e == cudaSuccess) return;
      ncclResult_t async = ncclSuccess;
      api_.comm_get_async_error(comm_, &async);
      if (async != ncclSuccess && async != ncclInProgress) {
        kill(nullptr);
        nccl_check(api_, async, what);
      }
      if (e != cudaErrorNotReady) {
        cudaGetLastError();
        kill(nullptr);
        cuda_check(e, "cudaStreamQuery", device_);
      }
      if (abort_requested_.load(std::memory_order_acquire)) kill("another rank failed in this step");
      std::this_thread::yield();
    }
  }

  // Aborts the NCCL communicator (frees it and stops its kernels); throws `why` when given.
  void kill(const char* why) {
    if (comm_) api_.comm_abort(comm_);
    comm_ = nullptr;
    if (why)
      throw Error("NCCL communicator (rank " + std::to_string(rank_) + ") aborted: " + why, Error::Kind::kInternal);
  }

  void release() {
    // Best effort: a destructor must not throw, and the device may already be in error.
    cudaSetDevice(device_);
    if (scratch_) cudaFree(scratch_);
    if (stream_) cudaStreamDestroy(stream_);
    if (comm_) api_.comm_destroy(comm_);
    scratch_ = nullptr;
    stream_ = nullptr;
    comm_ = nullptr;
  }

  const NcclApi& api_;
  ncclComm_t comm_ = nullptr;  // null once aborted
  const int rank_, size_, device_;
  std::atomic<bool> abort_requested_{false};
  cudaStream_t stream_ = nullptr;
  float* scratch_ = nullptr;  // [1] device float for barrier()
};

}  // namespace

bool nccl_built() { return true; }

LoadedLibraryInfo nccl_library() {
  const NcclApi& api = nccl(kNeededForVersion);
  int v = 0;
  nccl_check(api, api.get_version(&v), "ncclGetVersion");
  // NCCL_VERSION_CODE: X*1000+Y*100+Z before 2.9, X*10000+Y*100+Z since.
  const int major = v >= 10000 ? v / 10000 : v / 1000;
  const int minor = v >= 10000 ? (v / 100) % 100 : (v / 100) % 10;
  return {api.lib->path(), std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(v % 100)};
}

std::string nccl_version() { return nccl_library().version; }

std::vector<std::unique_ptr<Communicator>> create_nccl_communicators(const std::vector<int>& devices) {
  const int n = static_cast<int>(devices.size());
  LMD_CHECK(n >= 1) << "NCCL communicators: no devices given";
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();  // do not leave the error for the next runtime call
    throw Error("NCCL communicators for " + std::to_string(n) + " rank(s) need " + std::to_string(n) +
                    " CUDA device(s): none usable (cudaGetDeviceCount: " + cudaGetErrorString(e) + ")",
                Error::Kind::kUnsupported);
  }
  LMD_CHECK_KIND(count >= n, kUnsupported) << "NCCL communicators for " << n << " rank(s) need " << n
                                           << " CUDA devices, but " << count << " exist";
  std::set<int> seen;
  for (int d : devices) {
    LMD_CHECK_KIND(d >= 0 && d < count, kUnsupported)
        << "NCCL communicators: CUDA device " << d << " does not exist (" << count << " device(s))";
    LMD_CHECK(seen.insert(d).second) << "NCCL communicators: CUDA device " << d
                                     << " given twice (one rank per device)";
  }
  const NcclApi& api = nccl("--device cuda --tp " + std::to_string(n));
  // ncclCommInitAll: the single-process form of ncclGetUniqueId + ncclCommInitRank per rank.
  std::vector<ncclComm_t> raw(n, nullptr);
  nccl_check(api, api.comm_init_all(raw.data(), n, devices.data()), "ncclCommInitAll");
  std::vector<std::unique_ptr<Communicator>> out;
  size_t taken = 0;
  try {
    for (int r = 0; r < n; ++r) {
      ncclComm_t c = raw[r];
      raw[r] = nullptr;  // owned by the communicator from here (also when its constructor throws)
      ++taken;
      out.push_back(std::make_unique<NcclCommunicator>(api, c, r, n, devices[r]));
    }
  } catch (...) {
    for (size_t r = taken; r < raw.size(); ++r)
      if (raw[r]) api.comm_destroy(raw[r]);
    throw;
  }
  LMD_LOG_INFO("NCCL {}: {} rank(s) on CUDA devices {}", nccl_version(), n, [&] {
    std::ostringstream s;
    for (int r = 0; r < n; ++r) s << (r ? "," : "") << devices[r];
    return s.str();
  }());
  return out;
}

#else  // !LMDEPLOY_NCCL_ENABLED

namespace {
const char* const kNoNccl =
    "this build has no NCCL (configure with -DLMDEPLOY_CUDA=ON where nccl.h is installed, with the CUDA toolkit "
    "or under $NCCL_HOME; see docs/cuda.md)";
}  // namespace

bool nccl_built() { return false; }

LoadedLibraryInfo nccl_library() { throw Error(std::string("NCCL: ") + kNoNccl, Error::Kind::kUnsupported); }

std::string nccl_version() { return nccl_library().version; }

std::vector<std::unique_ptr<Communicator>> create_nccl_communicators(const std::vector<int>& devices) {
  throw Error("NCCL communicators for " + std::to_string(devices.size()) + " rank(s): " + kNoNccl,
              Error::Kind::kUnsupported);
}

#endif

}  // namespace lmd
