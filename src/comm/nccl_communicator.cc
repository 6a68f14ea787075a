// Compiled by g++ into lmdeploy_core: NCCL and the CUDA runtime are plain C APIs, so no nvcc
// is needed. Without LMDEPLOY_NCCL_ENABLED (no nvcc build, or nccl.h / libnccl not found) the
// entry points at the bottom throw instead.
#include "comm/nccl_communicator.h"

#include <atomic>
#include <set>
#include <sstream>
#include <thread>

#include "common/error.h"

#if LMDEPLOY_NCCL_ENABLED
#include <cuda_runtime.h>
#include <nccl.h>

#include "common/logging.h"
#endif

namespace lmd {

#if LMDEPLOY_NCCL_ENABLED

namespace {

void nccl_check(ncclResult_t r, const char* call) {
  if (r != ncclSuccess)
    throw Error(std::string("NCCL: ") + call + " failed: " + ncclGetErrorString(r) + " (ncclResult " +
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
  // Takes ownership of `comm` (made by ncclCommInitAll for `device`).
  NcclCommunicator(ncclComm_t comm, int rank, int size, int device)
      : comm_(comm), rank_(rank), size_(size), device_(device) {
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
    nccl_check(ncclAllReduce(data, data, count, ncclFloat, ncclSum, comm_, stream_), "ncclAllReduce");
    wait("ncclAllReduce");
  }

  void barrier() override {
    enter();
    nccl_check(ncclAllReduce(scratch_, scratch_, 1, ncclFloat, ncclSum, comm_, stream_), "ncclAllReduce (barrier)");
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
      ncclCommGetAsyncError(comm_, &async);
      if (async != ncclSuccess && async != ncclInProgress) {
        kill(nullptr);
        nccl_check(async, what);
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
    if (comm_) ncclCommAbort(comm_);
    comm_ = nullptr;
    if (why)
      throw Error("NCCL communicator (rank " + std::to_string(rank_) + ") aborted: " + why, Error::Kind::kInternal);
  }

  void release() {
    // Best effort: a destructor must not throw, and the device may already be in error.
    cudaSetDevice(device_);
    if (scratch_) cudaFree(scratch_);
    if (stream_) cudaStreamDestroy(stream_);
    if (comm_) ncclCommDestroy(comm_);
    scratch_ = nullptr;
    stream_ = nullptr;
    comm_ = nullptr;
  }

  ncclComm_t comm_ = nullptr;  // null once aborted
  const int rank_, size_, device_;
  std::atomic<bool> abort_requested_{false};
  cudaStream_t stream_ = nullptr;
  float* scratch_ = nullptr;  // [1] device float for barrier()
};

}  // namespace

bool nccl_built() { return true; }

std::string nccl_version() {
  int v = 0;
  nccl_check(ncclGetVersion(&v), "ncclGetVersion");
  // NCCL_VERSION_CODE: X*1000+Y*100+Z before 2.9, X*10000+Y*100+Z since.
  const int major = v >= 10000 ? v / 10000 : v / 1000;
  const int minor = v >= 10000 ? (v / 100) % 100 : (v / 100) % 10;
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(v % 100);
}

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
  // ncclCommInitAll: the single-process form of ncclGetUniqueId + ncclCommInitRank per rank.
  std::vector<ncclComm_t> raw(n, nullptr);
  nccl_check(ncclCommInitAll(raw.data(), n, devices.data()), "ncclCommInitAll");
  std::vector<std::unique_ptr<Communicator>> out;
  size_t taken = 0;
  try {
    for (int r = 0; r < n; ++r) {
      ncclComm_t c = raw[r];
      raw[r] = nullptr;  // owned by the communicator from here (also when its constructor throws)
      ++taken;
      out.push_back(std::make_unique<NcclCommunicator>(c, r, n, devices[r]));
    }
  } catch (...) {
    for (size_t r = taken; r < raw.size(); ++r)
      if (raw[r]) ncclCommDestroy(raw[r]);
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
    "this build has no NCCL (configure with -DLMDEPLOY_CUDA=ON where the CUDA toolkit's nccl.h and libnccl are "
    "installed; see docs/cuda.md)";
}  // namespace

bool nccl_built() { return false; }

std::string nccl_version() { throw Error(std::string("NCCL: ") + kNoNccl, Error::Kind::kUnsupported); }

std::vector<std::unique_ptr<Communicator>> create_nccl_communicators(const std::vector<int>& devices) {
  throw Error("NCCL communicators for " + std::to_string(devices.size()) + " rank(s): " + kNoNccl,
              Error::Kind::kUnsupported);
}

#endif

}  // namespace lmd
