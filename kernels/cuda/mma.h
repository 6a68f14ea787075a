// Tensor-core and async-copy instructions, the only place kernels reach them:
//   mma_m16n8k16   D(16x8, f32) = A(16x16, f16, row) * B(16x8, f16, col) + C
//   ldmatrix_x4    four 8x8 b16 tiles from shared memory into the mma fragment order
//   cp_async16 / cp_async_commit / cp_async_wait<N>   16-byte global -> shared async copies
// Under nvcc for the device: inline PTX (sm_80+). Under the shim: scalar twins that
// rebuild the tiles from each lane's registers per the PTX ISA fragment tables (see
// shim/device.h), so a wrong packing gives a wrong answer in tests.
//
// Fragments (g = lane / 4, t = lane % 4; each uint32 holds two f16, low half first):
//   A: a[0] = A(g, 2t..2t+1)  a[1] = A(g+8, 2t..)  a[2] = A(g, 2t+8..)  a[3] = A(g+8, 2t+8..)
//   B: b[0] = B(2t..2t+1, g)  b[1] = B(2t+8..2t+9, g)
//   C, D: c[0..1] = C(g, 2t..2t+1)  c[2..3] = C(g+8, 2t..2t+1)
// ldmatrix_x4: lane l passes the address of row (l % 8) of tile (l / 8); every row address
// is 16-byte aligned in shared memory. Register j of lane l = tile j, row g, columns 2t..2t+1.
#pragma once

#include <cstdint>

#include "kernels/cuda/shim/cuda_compat.h"

namespace lmd::cuda {

#if defined(LMD_CUDA_SHIM)

inline void mma_m16n8k16(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4],
                         LMD_SHIM_SITE_PARAMS) {
  uint32_t in[10];
  for (int i = 0; i < 4; ++i) in[i] = a[i];
  in[4] = b[0];
  in[5] = b[1];
  for (int i = 0; i < 4; ++i) in[6 + i] = f32_bits(c[i]);
  const shim::WarpSlot& s =
      shim::warp_collective(shim::WarpOp::kMma, 0xffffffffu, LMD_SHIM_SITE, 0, 0, 32, in, 10);
  for (int i = 0; i < 4; ++i) d[i] = f32_from_bits(s.out[i]);
}

inline void ldmatrix_x4(uint32_t r[4], const void* smem_row, LMD_SHIM_SITE_PARAMS) {
  if (!shim::in_shared(smem_row, 16) || reinterpret_cast<uintptr_t>(smem_row) % 16 != 0) {
    shim::shim_fail("ldmatrix at " + shim::site_str(LMD_SHIM_SITE) +
                    ": row address is not a 16-byte aligned shared-memory address");
  }
  const shim::WarpSlot& s = shim::warp_collective(shim::WarpOp::kLdmatrix, 0xffffffffu, LMD_SHIM_SITE,
                                                  reinterpret_cast<uint64_t>(smem_row), 0, 32);
  for (int i = 0; i < 4; ++i) r[i] = s.out[i];
}

// The destination reads as poison (0xFF) until the copy's group is waited for.
inline void cp_async16(void* smem_dst, const void* gmem_src, LMD_SHIM_SITE_PARAMS) {
  if (!shim::in_shared(smem_dst, 16) || reinterpret_cast<uintptr_t>(smem_dst) % 16 != 0 ||
      reinterpret_cast<uintptr_t>(gmem_src) % 16 != 0) {
    shim::shim_fail("cp.async at " + shim::site_str(LMD_SHIM_SITE) +
                    ": needs a 16-byte aligned shared destination and global source");
  }
  shim::ThreadState& ts = shim::current_thread();
  std::memset(smem_dst, 0xFF, 16);
  ts.cp_pending.push_back(shim::CpAsyncCopy{smem_dst, gmem_src, 16, ts.cp_group});
}

inline void cp_async_commit() { ++shim::current_thread().cp_group; }

// Waits until at most N committed groups are still in flight.
template <int N>
void cp_async_wait() {
  shim::ThreadState& ts = shim::current_thread();
  std::vector<shim::CpAsyncCopy> keep;
  for (const shim::CpAsyncCopy& c : ts.cp_pending) {
    if (c.group < ts.cp_group - N) {
      std::memcpy(c.dst, c.src, c.bytes);
    } else {
      keep.push_back(c);
    }
  }
  ts.cp_pending.swap(keep);
}

#else  // nvcc

__device__ __forceinline__ void mma_m16n8k16(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4]) {
#if defined(__CUDA_ARCH__)
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%10,%11,%12,%13};\n"
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]), "f"(c[2]),
        "f"(c[3]));
#endif
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t r[4], const void* smem_row) {
#if defined(__CUDA_ARCH__)
  const unsigned addr = static_cast<unsigned>(__cvta_generic_to_shared(smem_row));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
#endif
}

__device__ __forceinline__ void cp_async16(void* smem_dst, const void* gmem_src) {
#if defined(__CUDA_ARCH__)
  const unsigned addr = static_cast<unsigned>(__cvta_generic_to_shared(smem_dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(addr), "l"(gmem_src));
#endif
}

__device__ __forceinline__ void cp_async_commit() {
#if defined(__CUDA_ARCH__)
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}

template <int N>
__device__ __forceinline__ void cp_async_wait() {
#if defined(__CUDA_ARCH__)
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
#endif
}

#endif

}  // namespace lmd::cuda
