// The collective operations tensor-parallel ranks need, behind one interface so the model
// code does not know whether its ranks are threads sharing memory (CpuCommunicator, in
// cpu_communicator.h) or devices (NCCL: a documented TODO, docs/cuda.md).
//
// Contract (every implementation): all `size()` ranks call the same collectives in the same
// order with the same counts; a collective returns on a rank only when every rank has
// entered it. all_reduce_sum leaves, on every rank, the elementwise sum
// ((x_0 + x_1) + x_2) + ... + x_{size-1} of the ranks' buffers: the summation order is
// fixed by rank, so the result does not depend on timing and is identical on every rank.
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
};

}  // namespace lmd
