// NCCL collectives for tensor-parallel ranks that are CUDA devices of one process: rank r
// runs on devices[r], one rank per device, each rank used from its own thread.
//
//   auto comms = create_nccl_communicators({0, 1});   // ncclCommInitAll, one per device
//   // rank r's thread, after its compute stream is synchronized:
//   comms[r]->all_reduce_sum(dev_ptr, n);              // every rank, same n
//
// all_reduce_sum: ncclAllReduce(ncclFloat, ncclSum) in place on device memory, on the
// communicator's own stream (created on the rank's device), then a synchronize of that
// stream. The caller must have finished writing `data` (llama.cc synchronizes its backend
// before every collective). barrier: a one-element all-reduce on a device scratch float.
//
// Summation order: NCCL picks a ring or tree algorithm from the topology and rank count; for
// a given machine, rank count and message size the order is fixed (the same inputs give the
// same bits, run after run), but it is NOT the rank-sequential (x_0 + x_1) + x_2 ... of
// CpuCommGroup, so CUDA tp results may differ from CPU tp results in the last bits.
//
// Built only when cmake finds nccl.h next to the CUDA toolkit (LMDEPLOY_NCCL_ENABLED,
// cmake/cuda.cmake); otherwise every entry point throws a clear "built without NCCL"
// lmd::Error. libnccl itself is not linked: it is dlopen'ed (libnccl.so.<NCCL_MAJOR>) by the
// first create_nccl_communicators / nccl_library / nccl_version, and its absence is then an
// lmd::Error naming it ("--device cuda --tp 2 needs libnccl.so.2: <dlerror>"). The CUDA-on-CPU
// shim does not cover NCCL: none of this runs on a machine without GPUs (docs/cuda.md).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "common/dynlib.h"

namespace lmd {

// True when this binary was built with NCCL support (the library is loaded at first use).
bool nccl_built();
// Loads libnccl (if not yet) and reports its file and version ("2.28.9", ncclGetVersion).
// Throws lmd::Error when not built, or naming the library and dlerror() when it cannot be loaded.
LoadedLibraryInfo nccl_library();
// nccl_library().version.
std::string nccl_version();

// One communicator per entry of `devices` (rank r on CUDA device devices[r]; the devices must
// be distinct and exist). Throws lmd::Error (kUnsupported) naming how many devices exist when
// there are too few (checked before NCCL is loaded), naming the library when it cannot be
// loaded, and naming the NCCL call and ncclGetErrorString on an NCCL failure.
// The communicators share nothing host-side: rank r's is used only by rank r's thread.
std::vector<std::unique_ptr<Communicator>> create_nccl_communicators(const std::vector<int>& devices);

}  // namespace lmd
