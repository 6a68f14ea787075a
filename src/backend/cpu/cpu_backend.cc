#include "backend/cpu/cpu_backend.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <sys/mman.h>

#include "backend/cpu/llamacpp_numerics.h"
#include "core/error.h"

namespace lmd {

std::unique_ptr<Backend> create_cpu_backend(const CpuBackendOptions& opt) {
  return std::make_unique<cpu::CpuBackend>(opt);
}

namespace cpu {
namespace {
constexpr int kMaxFused = 8;
}  // namespace

CpuBackend::CpuBackend(const CpuBackendOptions& opt)
    : pool_(opt.threads), exact_(opt.exact), llamacpp_(opt.llamacpp_numerics) {
  thread_scratch_.resize(pool_.size());
  if (llamacpp_) lc_kv_.resize(pool_.size());
}

// Large buffers (the KV pool) come from anonymous mmap: zeroed by the kernel and only
// resident once touched, so a pool sized for 64 sessions costs start-up time and RSS
// only for the blocks actually used. Small ones from aligned_alloc + memset.
namespace {
constexpr size_t kMmapThreshold = size_t(1) << 20;
}

void* CpuBackend::alloc(size_t bytes) {
  const size_t rounded = (bytes + 63) / 64 * 64;
  if (rounded >= kMmapThreshold) {
    void* p = ::mmap(nullptr, rounded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    LMD_CHECK_KIND(p != MAP_FAILED, kResourceExhausted) << "cpu backend: cannot map " << bytes << " bytes";
    std::lock_guard<std::mutex> lock(mapped_mutex_);
    mapped_[p] = rounded;
    return p;
  }
  void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
  LMD_CHECK_KIND(p != nullptr, kResourceExhausted) << "cpu backend: cannot allocate " << bytes << " bytes";
  std::memset(p, 0, rounded == 0 ? 64 : rounded);
  return p;
}

void CpuBackend::free(void* ptr) {
  {
    std::lock_guard<std::mutex> lock(mapped_mutex_);
    auto it = mapped_.find(ptr);
    if (it != mapped_.end()) {
      ::munmap(ptr, it->second);
      mapped_.erase(it);
      return;
    }
  }
  std::free(ptr);
}

void CpuBackend::copy_to_device(void* dst, const void* src, size_t bytes) { std::memcpy(dst, src, bytes); }
void CpuBackend::copy_to_host(void* dst, const void* src, size_t bytes) { std::memcpy(dst, src, bytes); }

bool CpuBackend::supports_op(BackendOp op, DType weight_dtype, int group_size) const {
  if (op != BackendOp::kLinear && op != BackendOp::kEmbedding) return true;
  switch (weight_dtype) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16: return true;
    case DType::kInt4:
    case DType::kI8: return group_size > 0 && group_size % kBlock == 0;
    default: return false;
  }
}

// The AVX-512 and AVX2 GEMMs want the 16-row interleaved layout (cpu_kernels.h); the scalar
// table, the exact path (per-row dequant) and llama.cpp numerics mode (per-row ggml dots)
// keep rows.
std::unique_ptr<BackendWeight> CpuBackend::upload_weight(const WeightTensor& w) {
  const bool rows16 = !exact_ && !llamacpp_ && kernels().isa >= CpuIsa::kAvx2;
  return std::make_unique<CpuWeight>(w, rows16 ? PackLayout::kRows16 : PackLayout::kRows);
}

void CpuBackend::grow_thread_scratch(size_t floats) {
  for (auto& s : thread_scratch_)
    if (s.size() < floats) s.resize(floats);
}

void CpuBackend::embedding(const BackendWeight& table, const int32_t* tokens, int n, float* out) {
  const auto& w = static_cast<const CpuWeight&>(table);
  for (int t = 0; t < n; ++t)
    LMD_CHECK(tokens[t] >= 0 && tokens[t] < w.rows)
        << "embedding: token id " << tokens[t] << " outside the vocabulary [0, " << w.rows << ")";
  const Kernels& k = kernels();
  parallel(static_cast<int64_t>(n) * w.cols, [&](int tid, int nt) {
    const auto [b, e] = ThreadPool::split(n, tid, nt);
    for (int64_t t = b; t < e; ++t) w.row_f32(k, tokens[t], out + t * w.cols);
  });
}

void CpuBackend::rms_norm(const float* x, const float* w, int n, int dim, float eps, float* out) {
  if (llamacpp_) {  // llama.cpp numerics mode
    for (int64_t t = 0; t < n; ++t) llamacpp::rms_norm(x + t * dim, w, dim, eps, out + t * dim);
    return;
  }
  const Kernels& k = kernels();
  parallel(static_cast<int64_t>(n) * dim, [&](int tid, int nt) {
    const auto [b, e] = ThreadPool::split(n, tid, nt);
    for (int64_t t = b; t < e; ++t) k.rms_norm(x + t * dim, w, dim, eps, out + t * dim);
  });
}

void CpuBackend::linear(const float* x, int n, const LinearOut* outs, int n_outs) {
  LMD_CHECK(n_outs > 0 && n_outs <= kMaxFused) << "linear: " << n_outs << " fused outputs (1.." << kMaxFused << ")";
  if (llamacpp_) {  // llama.cpp numerics mode: quantised weights only, dense ones take the path below
    bool all_quant = true;
    for (int i = 0; i < n_outs; ++i)
      all_quant = all_quant && static_cast<const CpuWeight*>(outs[i].weight)->kind() != CpuWeight::Kind::kDense;
    if (all_quant) {
      linear_llamacpp(x, n, outs, n_outs);
      return;
    }
  }
  const int64_t cols = outs[0].weight->cols;
  int64_t total_rows = 0;
  bool any_quant = false;
  int64_t row_begin[kMaxFused + 1];
  size_t tmp_floats = 0;
  for (int i = 0; i < n_outs; ++i) {
    const auto* w = static_cast<const CpuWeight*>(outs[i].weight);
    LMD_CHECK(w->cols == cols) << "linear: fused weights disagree on input size (" << w->cols << " vs " << cols
                               << ")";
    row_begin[i] = total_rows;
    total_rows += w->rows;
    any_quant = any_quant || w->kind() != CpuWeight::Kind::kDense;
    if (outs[i].accumulate || outs[i].bias) tmp_floats += static_cast<size_t>(n) * w->rows;
  }
  row_begin[n_outs] = total_rows;
  const bool quant = any_quant && !exact_;
  const int64_t cp = pad_cols(cols), nblk = cp / kBlock;
  if (quant && act_q_.size() < static_cast<size_t>(n * cp)) {
    act_q_.resize(static_cast<size_t>(n * cp));
    act_d_.resize(static_cast<size_t>(n * nblk));
    act_s_.resize(static_cast<size_t>(n * nblk));
  }
  if (lin_tmp_.size() < tmp_floats) lin_tmp_.resize(tmp_floats);
  grow_thread_scratch(static_cast<size_t>(cols));
  const QuantActs acts{n, cp, act_q_.data(), act_d_.data(), act_s_.data()};
  const Kernels& k = kernels();

  // Activations are quantised first (token chunks), then the concatenated output rows of
  // the group are handed out in chunks of whole 16-row tiles, claimed dynamically.
  if (quant) {
    const int64_t tok_chunk = std::max<int64_t>(1, 16384 / cp);
    parallel_chunks(static_cast<int64_t>(n) * cols, (n + tok_chunk - 1) / tok_chunk, [&](int64_t c, int) {
      const int64_t b = c * tok_chunk, e = std::min<int64_t>(n, b + tok_chunk);
      for (int64_t t = b; t < e; ++t)
        k.quantize_row_q8(x + t * cols, cols, cp, act_q_.data() + t * cp, act_d_.data() + t * nblk,
                          act_s_.data() + t * nblk);
    });
  }
  const int64_t tiles = (total_rows + 15) / 16;
  // ~8 chunks per thread for balance, but at least ~64k multiply-adds per chunk
  const int64_t want = std::max<int64_t>(1, std::min<int64_t>(8 * threads(), static_cast<int64_t>(n) * cols * total_rows / 65536));
  const int64_t tiles_per_chunk = std::max<int64_t>(1, (tiles + want - 1) / want);
  const int64_t n_chunks = (tiles + tiles_per_chunk - 1) / tiles_per_chunk;
  parallel_chunks(static_cast<int64_t>(n) * cols * total_rows / 8, n_chunks, [&](int64_t c, int tid) {
    const int64_t rb = std::min(total_rows, c * tiles_per_chunk * 16);
    const int64_t re = std::min(total_rows, (c + 1) * tiles_per_chunk * 16);
    float* row_buf = thread_scratch_[tid].data();
    size_t tmp_off = 0;
    for (int i = 0; i < n_outs; ++i) {
      const auto& w = *static_cast<const CpuWeight*>(outs[i].weight);
      const bool via_tmp = outs[i].accumulate || outs[i].bias;
      const int64_t ldy = outs[i].ldy ? outs[i].ldy : w.rows;
      float* y = via_tmp ? lin_tmp_.data() + tmp_off : outs[i].y;
      const int64_t ldt = via_tmp ? w.rows : ldy;
      if (via_tmp) tmp_off += static_cast<size_t>(n) * w.rows;
      const int64_t r0 = std::max(rb, row_begin[i]) - row_begin[i];
      const int64_t r1 = std::min(re, row_begin[i + 1]) - row_begin[i];
      if (r0 >= r1) continue;
      if (quant && w.kind() == CpuWeight::Kind::kInt4) {
        k.gemm_q4_q8(w.int4(), r0, r1, acts, y, ldt);
      } else if (quant && w.kind() == CpuWeight::Kind::kInt8) {
        k.gemm_q8_q8(w.int8(), r0, r1, acts, y, ldt);
      } else {
        for (int64_t r = r0; r < r1; ++r) {
          const float* row = w.dense_f32_row(r);
          if (!row) {
            w.row_f32(k, r, row_buf);
            row = row_buf;
          }
          for (int64_t t = 0; t < n; ++t) y[t * ldt + r] = k.dot_f32(row, x + t * cols, cols);
        }
      }
      if (via_tmp) {
        for (int64_t t = 0; t < n; ++t) {
          float* dst = outs[i].y + t * ldy;
          const float* src = y + t * ldt;
          for (int64_t r = r0; r < r1; ++r) {
            float v = src[r];
            if (outs[i].bias) v += outs[i].bias[r];
            dst[r] = outs[i].accumulate ? dst[r] + v : v;
          }
        }
      }
    }
  });
}

void CpuBackend::silu_mul(const float* g, const float* u, int n, int dim, float* out) {
  if (llamacpp_) {  // llama.cpp numerics mode (16-lane vectors per row, as ggml_vec_swiglu_f32)
    for (int t = 0; t < n; ++t) {
      const int64_t o = static_cast<int64_t>(t) * dim;
      llamacpp::swiglu(g + o, u + o, dim, out + o);
    }
    return;
  }
  const Kernels& k = kernels();
  const int64_t total = static_cast<int64_t>(n) * dim;
  parallel(total, [&](int tid, int nt) {
    const auto [b, e] = ThreadPool::split(total, tid, nt, 16);
    if (e > b) k.silu_mul(g + b, u + b, e - b, out + b);
  });
}

// llama.cpp numerics mode: each token's input row is quantised once (Q8_1; its q and d are
// also Q8_0's), then every output row is one ggml vec_dot; the residual add / bias follow
// as separate float adds (ggml_add), as in llama.cpp's graph.
void CpuBackend::linear_llamacpp(const float* x, int n, const LinearOut* outs, int n_outs) {
  const int64_t cols = outs[0].weight->cols;
  LMD_CHECK(cols % kBlock == 0) << "llama.cpp numerics: linear input of " << cols << " values is not a multiple of 32";
  const int64_t nb = cols / kBlock;
  lc_q_.resize(static_cast<size_t>(n * cols));
  lc_d_.resize(static_cast<size_t>(n * nb));
  lc_s_.resize(static_cast<size_t>(n * nb));
  for (int64_t t = 0; t < n; ++t)
    llamacpp::quantize_row_q8_1(x + t * cols, cols, lc_q_.data() + t * cols, lc_d_.data() + t * nb,
                                lc_s_.data() + t * nb);
  for (int i = 0; i < n_outs; ++i) {
    const auto& w = *static_cast<const CpuWeight*>(outs[i].weight);
    LMD_CHECK(w.cols == cols) << "linear: fused weights disagree on input size (" << w.cols << " vs " << cols << ")";
    const int64_t ldy = outs[i].ldy ? outs[i].ldy : w.rows;
    const int64_t chunk = 64, n_chunks = (w.rows + chunk - 1) / chunk;
    parallel_chunks(static_cast<int64_t>(n) * cols * w.rows, n_chunks, [&](int64_t c, int) {
      const int64_t r0 = c * chunk, r1 = std::min(w.rows, r0 + chunk);
      for (int64_t t = 0; t < n; ++t) {
        const int8_t* q = lc_q_.data() + t * cols;
        const uint16_t* d = lc_d_.data() + t * nb;
        float* y = outs[i].y + t * ldy;
        for (int64_t r = r0; r < r1; ++r) {
          float v = w.kind() == CpuWeight::Kind::kInt4
                        ? llamacpp::vec_dot_q4_1_q8_1(w.int4(), r, q, d, lc_s_.data() + t * nb)
                        : llamacpp::vec_dot_q8_0_q8_0(w.int8(), r, q, d);
          if (outs[i].bias) v = v + outs[i].bias[r];
          y[r] = outs[i].accumulate ? y[r] + v : v;
        }
      }
    });
  }
}

void CpuBackend::add(float* x, const float* y, size_t count) {
  parallel(static_cast<int64_t>(count), [&](int tid, int nt) {
    const auto [b, e] = ThreadPool::split(static_cast<int64_t>(count), tid, nt, 16);
    for (int64_t i = b; i < e; ++i) x[i] += y[i];
  });
}

void CpuBackend::gather_rows(const float* x, const int32_t* rows, int n_rows, int dim, float* out) {
  for (int i = 0; i < n_rows; ++i)
    std::memcpy(out + static_cast<size_t>(i) * dim, x + static_cast<size_t>(rows[i]) * dim, sizeof(float) * dim);
}

}  // namespace cpu
}  // namespace lmd
