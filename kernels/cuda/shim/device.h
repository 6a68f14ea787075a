// Device-side built-ins of the CUDA-on-CPU shim: __syncthreads, 32-lane warp collectives
// with mask semantics, atomics and the math intrinsics our kernels use. Each function
// that can be misused takes the caller's file:line (default arguments evaluated at the
// call site) so the error names the kernel line, not this file.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/common/half.h"
#include "kernels/cuda/shim/runtime.h"

namespace lmd::shim {

// mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 from the 32 lanes' registers, per the
// PTX ISA fragment tables (g = lane / 4, t = lane % 4):
//   A 16x16 (row): a[0] = (g, 2t..2t+1)  a[1] = (g+8, 2t..)  a[2] = (g, 2t+8..)  a[3] = (g+8, 2t+8..)
//   B 16x8  (col): b[0] = (k 2t..2t+1, n g)  b[1] = (k 2t+8..2t+9, n g)
//   C/D 16x8 f32:  c[0..1] = (g, 2t..2t+1)   c[2..3] = (g+8, 2t..2t+1)
// Products are summed in fp32 in k order (the hardware's order is unspecified).
inline void mma_m16n8k16_reference(BlockState& b, int warp_base) {
  float A[16][16], B[16][8], C[16][8];
  auto lo = [](uint32_t r) { return fp16_to_f32(static_cast<uint16_t>(r & 0xffffu)); };
  auto hi = [](uint32_t r) { return fp16_to_f32(static_cast<uint16_t>(r >> 16)); };
  for (int l = 0; l < kWarpSize; ++l) {
    const uint32_t* in = b.threads[warp_base + l].warp.in;
    const int g = l / 4, t = l % 4;
    for (int r = 0; r < 4; ++r) {
      const int row = g + (r & 1) * 8, col = 2 * t + (r >> 1) * 8;
      A[row][col] = lo(in[r]);
      A[row][col + 1] = hi(in[r]);
    }
    for (int r = 0; r < 2; ++r) {
      B[2 * t + r * 8][g] = lo(in[4 + r]);
      B[2 * t + r * 8 + 1][g] = hi(in[4 + r]);
    }
    for (int r = 0; r < 4; ++r) C[g + (r >> 1) * 8][2 * t + (r & 1)] = f32_from_bits(in[6 + r]);
  }
  for (int l = 0; l < kWarpSize; ++l) {
    uint32_t* out = b.threads[warp_base + l].warp.out;
    const int g = l / 4, t = l % 4;
    for (int r = 0; r < 4; ++r) {
      const int row = g + (r >> 1) * 8, col = 2 * t + (r & 1);
      float acc = C[row][col];
      for (int k = 0; k < 16; ++k) acc += A[row][k] * B[k][col];
      out[r] = f32_bits(acc);
    }
  }
}

#define LMD_SHIM_SITE_PARAMS const char *lmd_file = __builtin_FILE(), int lmd_line = __builtin_LINE()
#define LMD_SHIM_SITE ::lmd::shim::Site{lmd_file, lmd_line}

inline void syncthreads_at(Site site) {
  ThreadState& ts = current_thread();
  ts.wait_site = site;
  ts.status = ThreadStatus::kAtBarrier;
  yield_to_scheduler();
}

// Computes the result of a complete collective for every lane in the mask.
inline void complete_warp_op(BlockState& b, int warp_base, unsigned mask) {
  const WarpSlot& s0 = b.threads[warp_base + __builtin_ctz(mask)].warp;
  const WarpOp op = s0.op;
  if (op == WarpOp::kBallot || op == WarpOp::kAny || op == WarpOp::kAll) {
    uint32_t ballot = 0;
    for (int j = 0; j < kWarpSize; ++j) {
      if ((mask >> j & 1u) && b.threads[warp_base + j].warp.value != 0) ballot |= 1u << j;
    }
    const uint64_t r = op == WarpOp::kBallot ? ballot : op == WarpOp::kAny ? (ballot != 0) : (ballot == mask);
    for (int j = 0; j < kWarpSize; ++j) {
      if (mask >> j & 1u) b.threads[warp_base + j].warp.result = r;
    }
    return;
  }
  if (op == WarpOp::kSyncwarp) return;
  if (op == WarpOp::kLdmatrix) {
    // x4, b16, no transpose: lanes 8j..8j+7 give the row addresses of matrix j; lane l gets
    // from matrix j the two values at row l/4, columns 2*(l%4), 2*(l%4)+1.
    for (int l = 0; l < kWarpSize; ++l) {
      WarpSlot& s = b.threads[warp_base + l].warp;
      for (int j = 0; j < 4; ++j) {
        const auto* row = reinterpret_cast<const uint16_t*>(b.threads[warp_base + 8 * j + l / 4].warp.value);
        uint16_t v[2];
        std::memcpy(v, row + 2 * (l % 4), 4);
        s.out[j] = static_cast<uint32_t>(v[0]) | static_cast<uint32_t>(v[1]) << 16;
      }
    }
    return;
  }
  if (op == WarpOp::kMma) {
    mma_m16n8k16_reference(b, warp_base);
    return;
  }
  // Shuffles: source lane per CUDA's rules for width-sized segments.
  for (int l = 0; l < kWarpSize; ++l) {
    if (!(mask >> l & 1u)) continue;
    WarpSlot& s = b.threads[warp_base + l].warp;
    const int w = s.width;
    const int seg = l / w * w;
    int src = l;
    switch (op) {
      case WarpOp::kShfl: src = seg + (s.arg & (w - 1)); break;
      case WarpOp::kShflUp: src = (l - seg) >= s.arg ? l - s.arg : l; break;
      case WarpOp::kShflDown: src = (l - seg) + s.arg < w ? l + s.arg : l; break;
      case WarpOp::kShflXor: src = (l ^ s.arg); src = (src / w * w) <= seg ? src : l; break;
      default: break;
    }
    if (!(mask >> src & 1u)) {
      shim_fail(std::string(warp_op_name(op)) + " at " + site_str(s.site) + ": lane " + std::to_string(l) +
                " reads lane " + std::to_string(src) + " which is not in the mask (undefined value)");
    }
    s.result = b.threads[warp_base + src].warp.value;
  }
}

// One lane arrives at a warp collective; returns when every lane in `mask` has arrived.
// `in` (n_in words) carries the mma operands.
inline WarpSlot& warp_collective(WarpOp op, unsigned mask, Site site, uint64_t value, int arg, int width,
                                 const uint32_t* in = nullptr, int n_in = 0) {
  BlockState& b = current_block();
  ThreadState& me = current_thread();
  const int lane = me.linear % kWarpSize;
  const int base = me.linear - lane;
  // Built only on the error paths: this function runs once per lane per collective.
  const auto where = [&] {
    return std::string(warp_op_name(op)) + " at " + site_str(site) + " (thread " + std::to_string(me.linear) + "): ";
  };
  if (!(mask >> lane & 1u)) shim_fail(where() + "the calling lane " + std::to_string(lane) + " is not in the mask");
  if (width <= 0 || width > kWarpSize || (width & (width - 1))) {
    shim_fail(where() + "width " + std::to_string(width) + " is not a power of two <= 32");
  }
  BlockState::WarpCounts& wc = b.warps[base / kWarpSize];
  // Fast path, O(1) per lane: a full mask in a full warp where no lane has returned and every
  // waiting lane waits at a full-mask collective of the same op — nothing the checks below
  // could object to. Anything else takes the slow path, which names the misuse.
  const bool fast = mask == 0xffffffffu && base + kWarpSize <= b.nthreads && wc.done == 0 &&
                    wc.waiting == wc.waiting_full && (wc.waiting_full == 0 || wc.full_op == op) &&
                    width > 0 && width <= kWarpSize && (width & (width - 1)) == 0;
  WarpSlot& slot = me.warp;
  if (fast) {
    slot.op = op;
    slot.mask = mask;
    slot.site = site;
    slot.value = value;
    slot.arg = arg;
    slot.width = width;
    if (n_in > 0) std::memcpy(slot.in, in, sizeof(uint32_t) * n_in);
    if (wc.waiting_full == kWarpSize - 1) {
      complete_warp_op(b, base, mask);
      for (int j = 0; j < kWarpSize; ++j) {
        if (j != lane) b.threads[base + j].status = ThreadStatus::kRunnable;
      }
      wc.waiting = wc.waiting_full = 0;
      return slot;
    }
    wc.full_op = op;
    ++wc.waiting;
    ++wc.waiting_full;
    me.status = ThreadStatus::kAtWarp;
    yield_to_scheduler();
    return slot;
  }
  slot.op = op;
  slot.mask = mask;
  slot.site = site;
  slot.value = value;
  slot.arg = arg;
  slot.width = width;
  if (n_in > 0) std::memcpy(slot.in, in, sizeof(uint32_t) * n_in);
  bool complete = true;
  for (int j = 0; j < kWarpSize; ++j) {
    const bool in_mask = mask >> j & 1u;
    if (base + j >= b.nthreads) {
      if (in_mask) shim_fail(where() + "mask names lane " + std::to_string(j) + " which does not exist in this block");
      continue;
    }
    if (j == lane) continue;
    const ThreadState& other = b.threads[base + j];
    if (in_mask && other.status == ThreadStatus::kDone) {
      shim_fail(where() + "mask names lane " + std::to_string(j) + " which has returned");
    }
    if (other.status == ThreadStatus::kAtWarp && (in_mask || (other.warp.mask >> lane & 1u)) &&
        (other.warp.op != op || other.warp.mask != mask)) {
      std::ostringstream os;
      os << where() << "mask 0x" << std::hex << mask << std::dec << ", but lane " << j << " waits at "
         << warp_op_name(other.warp.op) << " " << site_str(other.warp.site) << " with mask 0x" << std::hex
         << other.warp.mask;
      shim_fail(os.str());
    }
    if (in_mask && other.status != ThreadStatus::kAtWarp) complete = false;
  }
  if (complete) {
    complete_warp_op(b, base, mask);
    for (int j = 0; j < kWarpSize; ++j) {
      if ((mask >> j & 1u) && j != lane) b.threads[base + j].status = ThreadStatus::kRunnable;
    }
    wc.waiting -= __builtin_popcount(mask) - 1;
    if (mask == 0xffffffffu) wc.waiting_full -= kWarpSize - 1;
    return slot;
  }
  ++wc.waiting;
  if (mask == 0xffffffffu) {
    ++wc.waiting_full;
    wc.full_op = op;
  }
  me.status = ThreadStatus::kAtWarp;
  yield_to_scheduler();
  return slot;
}

template <typename T>
uint64_t to_bits(T v) {
  static_assert(sizeof(T) <= 8, "warp shuffles move at most 8 bytes");
  uint64_t u = 0;
  std::memcpy(&u, &v, sizeof(T));
  return u;
}
template <typename T>
T from_bits(uint64_t u) {
  T v;
  std::memcpy(&v, &u, sizeof(T));
  return v;
}

}  // namespace lmd::shim

// ---------------------------------------------------------------- CUDA names
inline void __syncthreads(LMD_SHIM_SITE_PARAMS) { ::lmd::shim::syncthreads_at(LMD_SHIM_SITE); }
// No reordering happens between fibers: the fences only mark intent.
inline void __threadfence() {}
inline void __threadfence_block() {}

inline void __syncwarp(unsigned mask = 0xffffffffu, LMD_SHIM_SITE_PARAMS) {
  ::lmd::shim::warp_collective(::lmd::shim::WarpOp::kSyncwarp, mask, LMD_SHIM_SITE, 0, 0, 32);
}

template <typename T>
T __shfl_sync(unsigned mask, T var, int src_lane, int width = 32, LMD_SHIM_SITE_PARAMS) {
  using namespace ::lmd::shim;
  return from_bits<T>(warp_collective(WarpOp::kShfl, mask, LMD_SHIM_SITE, to_bits(var), src_lane, width).result);
}
template <typename T>
T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = 32, LMD_SHIM_SITE_PARAMS) {
  using namespace ::lmd::shim;
  return from_bits<T>(
      warp_collective(WarpOp::kShflUp, mask, LMD_SHIM_SITE, to_bits(var), static_cast<int>(delta), width).result);
}
template <typename T>
T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = 32, LMD_SHIM_SITE_PARAMS) {
  using namespace ::lmd::shim;
  return from_bits<T>(
      warp_collective(WarpOp::kShflDown, mask, LMD_SHIM_SITE, to_bits(var), static_cast<int>(delta), width).result);
}
template <typename T>
T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = 32, LMD_SHIM_SITE_PARAMS) {
  using namespace ::lmd::shim;
  return from_bits<T>(warp_collective(WarpOp::kShflXor, mask, LMD_SHIM_SITE, to_bits(var), lane_mask, width).result);
}
inline unsigned __ballot_sync(unsigned mask, int pred, LMD_SHIM_SITE_PARAMS) {
  using namespace ::lmd::shim;
  return static_cast<unsigned>(warp_collective(WarpOp::kBallot, mask, LMD_SHIM_SITE, pred != 0, 0, 32).result);
}
inline int __any_sync(unsigned mask, int pred, LMD_SHIM_SITE_PARAMS) {
  using namespace ::lmd::shim;
  return static_cast<int>(warp_collective(WarpOp::kAny, mask, LMD_SHIM_SITE, pred != 0, 0, 32).result);
}
inline int __all_sync(unsigned mask, int pred, LMD_SHIM_SITE_PARAMS) {
  using namespace ::lmd::shim;
  return static_cast<int>(warp_collective(WarpOp::kAll, mask, LMD_SHIM_SITE, pred != 0, 0, 32).result);
}

namespace lmd::shim {
// Is [p, p + bytes) inside the current block's shared memory?
inline bool in_shared(const void* p, size_t bytes) {
  const BlockState& b = current_block();
  const auto* c = static_cast<const unsigned char*>(p);
  return c >= b.arena.data() && c + bytes <= b.arena.data() + b.arena.size();
}
}  // namespace lmd::shim

// Atomics: fibers of one launch never preempt each other, so a plain read-modify-write is
// atomic here; block order still varies with the schedule.
namespace lmd::shim {
template <typename T>
struct NonDeduced {
  using type = T;
};
}  // namespace lmd::shim
#define LMD_ND(T) typename ::lmd::shim::NonDeduced<T>::type
template <typename T>
T atomicAdd(T* p, LMD_ND(T) v) {
  const T old = *p;
  *p = old + v;
  return old;
}
template <typename T>
T atomicSub(T* p, LMD_ND(T) v) {
  const T old = *p;
  *p = old - v;
  return old;
}
template <typename T>
T atomicMax(T* p, LMD_ND(T) v) {
  const T old = *p;
  *p = old < v ? v : old;
  return old;
}
template <typename T>
T atomicMin(T* p, LMD_ND(T) v) {
  const T old = *p;
  *p = v < old ? v : old;
  return old;
}
template <typename T>
T atomicExch(T* p, LMD_ND(T) v) {
  const T old = *p;
  *p = v;
  return old;
}
template <typename T>
T atomicCAS(T* p, LMD_ND(T) compare, LMD_ND(T) v) {
  const T old = *p;
  if (old == compare) *p = v;
  return old;
}

// Device overloads of min / max (CUDA provides them for integer types).
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }

// Math intrinsics with their IEEE meaning (the fast-math approximations of the device are
// not modelled; tolerances in tests cover them).
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
inline int __float2int_rn(float x) { return static_cast<int>(std::nearbyint(x)); }
inline float __int_as_float(int x) {
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}
inline int __float_as_int(float f) {
  int x;
  std::memcpy(&x, &f, 4);
  return x;
}
inline unsigned __float_as_uint(float f) {
  unsigned x;
  std::memcpy(&x, &f, 4);
  return x;
}
inline float __uint_as_float(unsigned x) {
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}
template <typename T>
T __ldg(const T* p) {
  return *p;
}
