// The collective operations tensor-parallel ranks need, behind one interface so the model
// code does not know whether its ranks are threads sharing memory (CpuCommunicator, in
// cpu_communicator.h; host buffers) or CUDA devices (NcclCommunicator, in
// nccl_communicator.h; device buffers).
//
// Contract (every implementation): all `size()` ranks call the same collectives in the same
// order with the same counts; a collective returns on a rank only when every rank has
// entered it. all_reduce_sum leaves, on every rank, the elementwise sum of the ranks'
// buffers, identical on every rank and independent of timing. The summation order is
// implementation-defined but fixed: CpuCommunicator sums in rank order,
// ((x_0 + x_1) + x_2) + ... + x_{size-1}; NCCL's ring / tree order is fixed for a given
// topology, rank count and size but is not rank-sequential (last-bit differences vs CPU).
//
// Failure: when one rank fails inside a step, its thread calls abort() on every rank's
// communicator (thread-safe: the only call allowed from a thread other than the rank's own),
// so ranks waiting in, or later entering, a collective throw lmd::Error instead of hanging.
// Once every rank has left its collectives, reset() re-arms them (CPU), or they keep throwing
// (NCCL: an aborted NCCL communicator is destroyed; the model must be rebuilt).
#pragma once

#include <cstddef>

namespace lmd {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // In place: data[0..count) becomes the sum over ranks (see the order above).
  virtual void all_reduce_sum(float* data, size_t count) = 0;
  virtual void barrier() = 0;
  virtual void abort() = 0;
  virtual void reset() = 0;
};

}  // namespace lmd
