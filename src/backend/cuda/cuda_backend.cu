// CudaBackend: see cuda_backend.h. Compiled by nvcc (lmd_backend_cuda) and, for the
// tests, by g++ as C++ against the shim (lmd_backend_cuda_shim, cmake/cuda_shim/CMakeLists.txt).
#include "backend/cuda/cuda_backend.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "backend/cuda/cublas_library.h"
#include "backend/device_registry.h"
#include "comm/cpu_communicator.h"
#include "comm/nccl_communicator.h"
#include "backend/cuda/device_pool.cuh"
#include "core/error.h"
#include "kernels/cuda/decode_attention.cuh"
#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/embedding.cuh"
#include "kernels/cuda/gemv.cuh"
#include "kernels/cuda/prefill_attention.cuh"
#include "kernels/cuda/rms_norm.cuh"
#include "kernels/cuda/rope_kv_write.cuh"
#include "kernels/cuda/sampling.cuh"
#include "kernels/cuda/silu_mul.cuh"
#include "kernels/cuda/w4a16_gemv.cuh"
#include "kernels/cuda/dense_gemm.cuh"
#include "kernels/cuda/w4a16_gemm.cuh"

namespace lmd {
namespace cuda {
namespace {

#define LMD_CUDA_OK(call)                                                                                \
  do {                                                                                                 \
    const cudaError_t lmd_err_ = (call);                                                               \
    LMD_CHECK_KIND(lmd_err_ == cudaSuccess, kInternal)                                                 \
        << "cuda backend: " #call " failed: " << cudaGetErrorString(lmd_err_);                          \
  } while (0)

size_t element_bytes(DType t) {
  switch (t) {
    case DType::kF32: return 4;
    case DType::kF16:
    case DType::kBF16: return 2;
    default: return 0;
  }
}

// A weight matrix on the device, in the canonical layout of core/weights.h (the kernels
// read it as is: int4 nibbles + (scale, min), int8 + scale, or dense rows).
class CudaWeight : public BackendWeight {
 public:
  void* data = nullptr;  // nibbles / int8 codes / dense elements
  void* aux = nullptr;   // fp16 (scale, min) pairs / fp16 scales
  // int4 with cols and group multiples of 32: the codes again in the W4A16 GEMM's fragment
  // order (w4a16_gemm.cuh), for prefill-sized steps; `data` stays for the GEMV and embedding.
  void* packed = nullptr;
  ~CudaWeight() override {
    cudaFree(data);
    cudaFree(aux);
    cudaFree(packed);
  }
};

// The backend's cuBLAS handle (dense fp16 / bf16 GEMMs of prefill-sized steps), created on
// first use and bound to the backend's stream. That first use is also what loads libcublas
// (cublas_api(), src/backend/cuda/cublas_library.h: an lmd::Error naming the library when it
// is missing).
class CublasHandle {
 public:
  ~CublasHandle() {
    if (h_) api().destroy(h_);
  }
  static const CublasApi& api() {
#if defined(LMD_CUDA_SHIM)
    return cublas_twin();
#else
    return cublas_api();
#endif
  }
  cublasHandle_t get(cudaStream_t stream) {
    if (!h_) {
      const CublasApi& cublas = api();
      LMD_CHECK_KIND(cublas.create(&h_) == CUBLAS_STATUS_SUCCESS, kInternal) << "cuda backend: cublasCreate failed";
      LMD_CHECK_KIND(cublas.set_stream(h_, stream) == CUBLAS_STATUS_SUCCESS, kInternal)
          << "cuda backend: cublasSetStream failed";
    }
    return h_;
  }

 private:
  cublasHandle_t h_ = nullptr;
};

// A device buffer that grows to the largest request (contents not preserved).
class Scratch {
 public:
  ~Scratch() { cudaFree(ptr_); }
  template <typename T>
  T* get(size_t count) {
    const size_t bytes = std::max<size_t>(1, count) * sizeof(T);
    if (bytes > bytes_) {
      cudaFree(ptr_);
      ptr_ = nullptr;
      bytes_ = 0;
      LMD_CUDA_OK(cudaMalloc(&ptr_, bytes));
      bytes_ = bytes;
    }
    return static_cast<T*>(ptr_);
  }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

class CudaBackend : public Backend {
 public:
  explicit CudaBackend(const CudaBackendOptions& opt) : opt_(opt), pool_(opt.device) {
    LMD_CHECK(opt.attention_split_len > 0) << "cuda backend: attention_split_len " << opt.attention_split_len;
    LMD_CUDA_OK(cudaSetDevice(opt.device));
    LMD_CUDA_OK(cudaStreamCreate(&stream_));
  }
  ~CudaBackend() override {
    cudaSetDevice(opt_.device);
    cudaStreamSynchronize(stream_);
    cudaStreamDestroy(stream_);  // pool_'s destructor returns its blocks to the driver
  }

  const char* name() const override { return "cuda"; }

  // --- memory ---
  // From the caching pool (device_pool.cuh; its errors name the size and cudaMemGetInfo).
  void* alloc(size_t bytes) override {
    use_device();
    void* p = pool_.allocate(bytes);
    LMD_CUDA_OK(cudaMemsetAsync(p, 0, bytes, stream_));
    std::lock_guard<std::mutex> lock(mu_);
    allocs_[reinterpret_cast<uintptr_t>(p)] = bytes;
    return p;
  }
  void free(void* ptr) override {
    if (!ptr) return;
    use_device();
    {
      std::lock_guard<std::mutex> lock(mu_);
      LMD_CHECK_KIND(allocs_.erase(reinterpret_cast<uintptr_t>(ptr)) == 1, kInternal)
          << "cuda backend: free of a pointer this backend did not allocate";
    }
    LMD_CUDA_OK(cudaStreamSynchronize(stream_));  // no kernel may still use it
    pool_.deallocate(ptr);  // cached for the next alloc
  }
  void copy_to_device(void* dst, const void* src, size_t bytes) override {
    use_device();
    LMD_CUDA_OK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_));
    LMD_CUDA_OK(cudaStreamSynchronize(stream_));  // src may be freed when we return
  }
  void copy_to_host(void* dst, const void* src, size_t bytes) override {
    use_device();
    LMD_CUDA_OK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
    LMD_CUDA_OK(cudaStreamSynchronize(stream_));
  }
  void synchronize() override {
    use_device();
    LMD_CUDA_OK(cudaStreamSynchronize(stream_));
  }

  bool supports_op(BackendOp op, DType weight_dtype, int group_size) const override {
    if (op != BackendOp::kLinear && op != BackendOp::kEmbedding) return true;
    switch (weight_dtype) {
      case DType::kF32:
      case DType::kF16:
      case DType::kBF16: return true;
      case DType::kInt4: return group_size > 0 && group_size % 2 == 0;
      case DType::kI8: return group_size > 0;
      default: return false;
    }
  }

  std::unique_ptr<BackendWeight> upload_weight(const WeightTensor& w) override;
  void begin_step(const StepPlan& plan, const KvLayout& layout, uint8_t* kv_pool,
                  const AttentionParams& params) override;
  void embedding(const BackendWeight& table, const int32_t* tokens, int n, float* out) override;
  void rms_norm(const float* x, const float* w, int n, int dim, float eps, float* out) override {
    use_device();
    StreamScope s(stream_);
    // rms_norm writes x only when given a residual; here it is read-only.
    cuda::rms_norm<float>(const_cast<float*>(x), nullptr, w, n, dim, eps, out);
    check_launch("rms_norm");
  }
  void linear(const float* x, int n, const LinearOut* outs, int n_outs) override;
  void rope_kv_write(int layer, float* q, float* k, const float* v, int n) override;
  void set_kv_static_params(int layer, const float* scale_zp4) override;
  void attention(int layer, const float* q, float* out, int n) override;
  void silu_mul(const float* g, const float* u, int n, int dim, float* out) override {
    use_device();
    StreamScope s(stream_);
    cuda::silu_mul<float>(g, u, static_cast<int64_t>(n) * dim, out);
    check_launch("silu_mul");
  }
  void add(float* x, const float* y, size_t count) override {
    use_device();
    StreamScope s(stream_);
    cuda::add(x, y, static_cast<int64_t>(count));
    check_launch("add");
  }
  bool supports_sampling() const override { return true; }
  void reserve_sampling(int max_rows, int vocab) override;
  void sample(const float* logits, int vocab, SamplingBatch* batch) override;

  void gather_rows(const float* x, const int32_t* rows, int n_rows, int dim, float* out) override {
    if (n_rows <= 0) return;
    for (int i = 0; i < n_rows; ++i) LMD_CHECK(rows[i] >= 0) << "gather_rows: row " << rows[i] << " < 0";
    use_device();
    int32_t* d_rows = gather_rows_.get<int32_t>(n_rows);
    LMD_CUDA_OK(cudaMemcpyAsync(d_rows, rows, sizeof(int32_t) * n_rows, cudaMemcpyHostToDevice, stream_));
    StreamScope s(stream_);
    cuda::gather_rows(x, d_rows, n_rows, dim, out);
    check_launch("gather_rows");
  }

 private:
  // Tensor-parallel ranks (tp_model.h) build a backend on one thread and run it on another,
  // and the CUDA device is per host thread: every public entry selects this backend's device
  // (cudaGetDevice is a cheap thread-local read; cudaSetDevice only on a change).
  void use_device() {
    int current = -1;
    if (cudaGetDevice(&current) != cudaSuccess || current != opt_.device) LMD_CUDA_OK(cudaSetDevice(opt_.device));
  }
  void check_launch(const char* what) {
    const cudaError_t e = cudaGetLastError();
    LMD_CHECK_KIND(e == cudaSuccess, kInternal) << "cuda backend: " << what << " kernel: " << cudaGetErrorString(e);
  }
  // True when [p, p + bytes) is inside memory from alloc(); false for host memory.
  bool is_device(const void* p, size_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    auto it = allocs_.upper_bound(a);
    if (it == allocs_.begin()) return false;
    --it;
    return a >= it->first && a + bytes <= it->first + it->second;
  }
  template <typename T>
  void upload(Scratch& dst, const std::vector<T>& src) {
    T* d = dst.get<T>(src.size());
    if (!src.empty())
      LMD_CUDA_OK(cudaMemcpyAsync(d, src.data(), sizeof(T) * src.size(), cudaMemcpyHostToDevice, stream_));
  }

  CudaBackendOptions opt_;
  cudaStream_t stream_ = nullptr;
  std::mutex mu_;
  std::map<uintptr_t, size_t> allocs_;  // device base -> bytes (requested)
  DevicePool pool_;                     // alloc/free; returns every block on destruction

  // --- step state (begin_step) ---
  KvLayout layout_;
  uint8_t* kv_pool_ = nullptr;
  AttentionParams params_;
  int step_tokens_ = 0;
  int num_splits_ = 1;
  bool has_logn_ = false;
  std::vector<int32_t> h_kv_block_, h_kv_slot_, h_kv_len_, h_table_offset_, h_blocks_;
  std::vector<float> h_cos_, h_sin_, h_logn_;
  Scratch kv_block_, kv_slot_, kv_len_, table_offset_, blocks_, cos_, sin_, logn_;
  Scratch part_o_, part_ml_, tokens_, gather_rows_, staged_y_;
  Scratch x_cast_;       // linear(): activations cast to f16 / bf16 for cuBLAS
  CublasHandle cublas_;  // linear(): dense f16 / bf16 GEMMs of prefill-sized steps
  // attention(): CTAs of the prefill kernel, uploaded again only when they change.
  std::vector<PrefillTile> h_prefill_tiles_;
  Scratch prefill_tiles_;
  // Static int8 KV (set_kv_static_params): [layer][K, V][scale, zp, zp - 128 scale, 0].
  std::vector<float> h_kv_static_;
  std::vector<bool> kv_static_set_;
  bool kv_static_dirty_ = false;
  Scratch kv_static_;
  // Sampling (reserve_sampling): [max rows] params / uniforms / tokens, [max rows + 1] ban
  // offsets, [max rows, vocab] work and the dense seen / generated counts (zero between
  // steps: sample() scatters a step's counts in and zeros back); allocated once. The ban ids
  // and the sparse counts grow to the largest step's lists.
  int sample_max_rows_ = 0, sample_vocab_ = 0;
  Scratch sample_params_, sample_uniform_, sample_ban_offsets_, sample_out_, sample_work_;
  Scratch sample_seen_, sample_generated_, sample_bans_, sample_counts_;
  std::vector<SampleParams> h_sample_params_;
  std::vector<RowTokenCount> h_sample_counts_;  // the seen entries, then the generated ones
  std::vector<int32_t> h_sample_out_;
};

std::unique_ptr<BackendWeight> CudaBackend::upload_weight(const WeightTensor& w) {
  use_device();
  LMD_CHECK(w.shape.size() == 2) << "upload_weight: expected a matrix, got " << w.shape.size() << " dims";
  auto out = std::make_unique<CudaWeight>();
  out->rows = w.rows();
  out->cols = w.cols();
  out->dtype = w.dtype;
  out->group_size = w.group_size;
  size_t data_bytes = 0, aux_bytes = 0;
  switch (w.dtype) {
    case DType::kInt4:
      LMD_CHECK(w.group_size > 0 && w.group_size % 2 == 0 && out->cols % w.group_size == 0)
          << "int4 weight [" << out->rows << "x" << out->cols << "]: group size " << w.group_size
          << " not supported by the CUDA backend (an even divisor of cols needed)";
      data_bytes = static_cast<size_t>(out->rows * out->cols / 2);
      aux_bytes = static_cast<size_t>(out->rows * (out->cols / w.group_size)) * 4;
      break;
    case DType::kI8:
      LMD_CHECK(w.group_size > 0 && out->cols % w.group_size == 0)
          << "int8 weight [" << out->rows << "x" << out->cols << "]: group size " << w.group_size
          << " not supported by the CUDA backend (group-wise int8 needed)";
      data_bytes = static_cast<size_t>(out->rows * out->cols);
      aux_bytes = static_cast<size_t>(out->rows * (out->cols / w.group_size)) * 2;
      break;
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16: data_bytes = static_cast<size_t>(out->rows * out->cols) * element_bytes(w.dtype); break;
    default:
      throw Error("upload_weight: weight dtype " + std::to_string(static_cast<int>(w.dtype)) +
                      " not supported by the CUDA backend",
                  Error::Kind::kUnsupported);
  }
  LMD_CHECK(w.data.size() >= data_bytes && w.aux.size() >= aux_bytes)
      << "upload_weight [" << out->rows << "x" << out->cols << "]: " << w.data.size() << " data / " << w.aux.size()
      << " aux bytes, expected " << data_bytes << " / " << aux_bytes;
  LMD_CUDA_OK(cudaMalloc(&out->data, std::max<size_t>(1, data_bytes)));
  LMD_CUDA_OK(cudaMemcpy(out->data, w.data.data(), data_bytes, cudaMemcpyHostToDevice));
  if (aux_bytes > 0) {
    LMD_CUDA_OK(cudaMalloc(&out->aux, aux_bytes));
    LMD_CUDA_OK(cudaMemcpy(out->aux, w.aux.data(), aux_bytes, cudaMemcpyHostToDevice));
  }
  if (w.dtype == DType::kInt4 && out->cols % 32 == 0 && w.group_size % 32 == 0) {
    // Repacked once here for the tensor-core GEMM (other shapes use the GEMV at every n).
    const std::vector<uint32_t> packed = w4_repack(w.data.data(), out->rows, out->cols);
    LMD_CUDA_OK(cudaMalloc(&out->packed, std::max<size_t>(1, packed.size() * sizeof(uint32_t))));
    LMD_CUDA_OK(cudaMemcpy(out->packed, packed.data(), packed.size() * sizeof(uint32_t), cudaMemcpyHostToDevice));
  }
  return out;
}

void CudaBackend::begin_step(const StepPlan& plan, const KvLayout& layout, uint8_t* kv_pool,
                             const AttentionParams& params) {
  use_device();
  layout_ = layout;
  kv_pool_ = kv_pool;
  params_ = resolve_attention_params(params);
  LMD_CHECK_KIND(params_.head_dim == 64 || params_.head_dim == 128, kUnsupported)
      << "cuda backend: head dim " << params_.head_dim << " unsupported by the attention kernel (64 or 128)";
  LMD_CHECK(layout.head_dim == params_.head_dim && layout.kv_head_num == params_.kv_head_num)
      << "cuda backend: KV layout (" << layout.kv_head_num << " heads x " << layout.head_dim
      << ") disagrees with the attention params (" << params_.kv_head_num << " x " << params_.head_dim << ")";

  StepTables tables;
  build_step_tables(plan, layout, params_, &tables);
  const int n = static_cast<int>(plan.tokens.size());
  step_tokens_ = n;
  h_kv_block_.assign(n, -1);
  h_kv_slot_.assign(n, 0);
  h_kv_len_.assign(n, 0);
  h_table_offset_.assign(n, 0);
  h_blocks_.clear();
  for (const StepSequence& s : plan.seqs) {
    const int32_t table_begin = static_cast<int32_t>(h_blocks_.size());
    h_blocks_.insert(h_blocks_.end(), s.block_table.begin(), s.block_table.end());
    for (int i = 0; i < s.n_tokens; ++i) {
      const int t = s.token_offset + i;
      const int p = tables.pos[t];
      h_kv_block_[t] = s.block_table[p / layout.block_len];
      h_kv_slot_[t] = p % layout.block_len;
      h_kv_len_[t] = p + 1;  // attends to its own prefix
      h_table_offset_[t] = table_begin;
    }
  }
  const int max_len = tables.max_len;
  h_cos_ = std::move(tables.cos);
  h_sin_ = std::move(tables.sin);
  h_logn_ = std::move(tables.logn);
  has_logn_ = tables.has_logn;
  num_splits_ = (max_len + opt_.attention_split_len - 1) / opt_.attention_split_len;
  upload(kv_block_, h_kv_block_);
  upload(kv_slot_, h_kv_slot_);
  upload(kv_len_, h_kv_len_);
  upload(table_offset_, h_table_offset_);
  upload(blocks_, h_blocks_);
  upload(cos_, h_cos_);
  upload(sin_, h_sin_);
  if (has_logn_) upload(logn_, h_logn_);
  // The host vectors stay alive until the next begin_step; the step's kernels are queued
  // behind these copies on the same stream.
}

void CudaBackend::embedding(const BackendWeight& table, const int32_t* tokens, int n, float* out) {
  use_device();
  const auto& w = static_cast<const CudaWeight&>(table);
  for (int t = 0; t < n; ++t)
    LMD_CHECK(tokens[t] >= 0 && tokens[t] < w.rows)
        << "embedding: token id " << tokens[t] << " outside the vocabulary [0, " << w.rows << ")";
  if (n <= 0) return;
  int32_t* d_tok = tokens_.get<int32_t>(n);
  LMD_CUDA_OK(cudaMemcpyAsync(d_tok, tokens, sizeof(int32_t) * n, cudaMemcpyHostToDevice, stream_));
  StreamScope s(stream_);
  const int dim = static_cast<int>(w.cols);
  switch (w.dtype) {
    case DType::kF32: cuda::embedding(static_cast<const float*>(w.data), d_tok, n, dim, out); break;
    case DType::kF16: cuda::embedding(static_cast<const __half*>(w.data), d_tok, n, dim, out); break;
    case DType::kBF16: cuda::embedding(static_cast<const __nv_bfloat16*>(w.data), d_tok, n, dim, out); break;
    case DType::kInt4:
      embedding_int4(static_cast<const uint8_t*>(w.data), static_cast<const uint16_t*>(w.aux), d_tok, n, dim,
                     w.group_size, out);
      break;
    case DType::kI8:
      embedding_int8(static_cast<const int8_t*>(w.data), static_cast<const uint16_t*>(w.aux), d_tok, n, dim,
                     w.group_size, out);
      break;
    default: LMD_FAIL() << "embedding: weight dtype " << static_cast<int>(w.dtype) << " unsupported";
  }
  check_launch("embedding");
}

void CudaBackend::linear(const float* x, int n, const LinearOut* outs, int n_outs) {
  LMD_CHECK(n_outs > 0) << "linear: " << n_outs << " outputs";
  const int64_t cols = outs[0].weight->cols;
  for (int i = 0; i < n_outs; ++i)
    LMD_CHECK(outs[i].weight->cols == cols)
        << "linear: fused weights disagree on input size (" << outs[i].weight->cols << " vs " << cols << ")";
  if (n <= 0) return;
  use_device();
  StreamScope s(stream_);
  // The activations cast for cuBLAS, once per call (fused outputs share x).
  DType cast_dtype = DType::kF32;
  auto cast_x = [&](const float* xs, int64_t count, DType dt) -> const void* {
    if (dt == DType::kF16) {
      if (cast_dtype != dt) cast_activations(xs, count, x_cast_.get<__half>(count));
      cast_dtype = dt;
      return x_cast_.get<__half>(count);
    }
    if (cast_dtype != dt) cast_activations(xs, count, x_cast_.get<__nv_bfloat16>(count));
    cast_dtype = dt;
    return x_cast_.get<__nv_bfloat16>(count);
  };
  for (int i = 0; i < n_outs; ++i) {
    const auto& w = *static_cast<const CudaWeight*>(outs[i].weight);
    const int64_t ldy = outs[i].ldy ? outs[i].ldy : w.rows;
    const size_t y_bytes = (static_cast<size_t>(n - 1) * ldy + w.rows) * sizeof(float);
    // A host output (the model's logits buffer) is computed into device scratch and copied back.
    const bool staged = !is_device(outs[i].y, y_bytes);
    float* y = outs[i].y;
    if (staged) {
      y = staged_y_.get<float>(y_bytes / sizeof(float));
      if (outs[i].accumulate) LMD_CUDA_OK(cudaMemcpyAsync(y, outs[i].y, y_bytes, cudaMemcpyHostToDevice, stream_));
    }
    const int rows = static_cast<int>(w.rows), c = static_cast<int>(cols), ld = static_cast<int>(ldy);
    switch (w.dtype) {
      case DType::kInt4:
        if (n >= kGemmMinTokens && w.packed) {  // prefill-sized: tensor cores, f16 activations
          w4a16_gemm<float>(W4Packed{static_cast<const uint32_t*>(w.packed), static_cast<const uint16_t*>(w.aux), rows,
                                     c, w.group_size},
                            x, n, outs[i].bias, y, ld, outs[i].accumulate);
          break;
        }
        w4a16_gemv<float>(W4Matrix{static_cast<const uint8_t*>(w.data), static_cast<const uint16_t*>(w.aux), rows, c,
                                   w.group_size},
                          x, n, outs[i].bias, y, ld, outs[i].accumulate);
        break;
      case DType::kI8:
        gemv_int8(Int8Matrix{static_cast<const int8_t*>(w.data), static_cast<const uint16_t*>(w.aux), rows, c,
                             w.group_size},
                  x, n, outs[i].bias, y, ld, outs[i].accumulate);
        break;
      case DType::kF32:
        gemv(DenseMatrix<float>{static_cast<const float*>(w.data), rows, c}, x, n, outs[i].bias, y, ld,
             outs[i].accumulate);
        break;
      case DType::kF16:
        if (n >= kGemmMinTokens) {  // prefill-sized: cuBLAS, activations cast to f16
          dense_gemm_cublas(CublasHandle::api(), cublas_.get(stream_), static_cast<const __half*>(w.data), rows, c,
                            static_cast<const __half*>(cast_x(x, n * cols, DType::kF16)), n, outs[i].bias, y, ld,
                            outs[i].accumulate);
          break;
        }
        gemv(DenseMatrix<__half>{static_cast<const __half*>(w.data), rows, c}, x, n, outs[i].bias, y, ld,
             outs[i].accumulate);
        break;
      case DType::kBF16:
        if (n >= kGemmMinTokens) {  // prefill-sized: cuBLAS, activations cast to bf16
          dense_gemm_cublas(CublasHandle::api(), cublas_.get(stream_), static_cast<const __nv_bfloat16*>(w.data), rows, c,
                            static_cast<const __nv_bfloat16*>(cast_x(x, n * cols, DType::kBF16)), n, outs[i].bias, y,
                            ld, outs[i].accumulate);
          break;
        }
        gemv(DenseMatrix<__nv_bfloat16>{static_cast<const __nv_bfloat16*>(w.data), rows, c}, x, n, outs[i].bias, y,
             ld, outs[i].accumulate);
        break;
      default: LMD_FAIL() << "linear: weight dtype " << static_cast<int>(w.dtype) << " unsupported";
    }
    check_launch("linear");
    if (staged) {
      LMD_CUDA_OK(cudaMemcpyAsync(outs[i].y, y, y_bytes, cudaMemcpyDeviceToHost, stream_));
      LMD_CUDA_OK(cudaStreamSynchronize(stream_));
    }
  }
}

void CudaBackend::reserve_sampling(int max_rows, int vocab) {
  LMD_CHECK(max_rows > 0 && vocab > 0) << "reserve_sampling: max rows " << max_rows << ", vocab " << vocab;
  use_device();
  const size_t dense = static_cast<size_t>(max_rows) * vocab;
  sample_params_.get<SampleParams>(max_rows);
  sample_uniform_.get<double>(max_rows);
  sample_ban_offsets_.get<int32_t>(max_rows + 1);
  sample_out_.get<int32_t>(max_rows);
  sample_work_.get<float>(dense);
  LMD_CUDA_OK(cudaMemsetAsync(sample_seen_.get<int32_t>(dense), 0, dense * sizeof(int32_t), stream_));
  LMD_CUDA_OK(cudaMemsetAsync(sample_generated_.get<int32_t>(dense), 0, dense * sizeof(int32_t), stream_));
  LMD_CUDA_OK(cudaStreamSynchronize(stream_));
  sample_max_rows_ = max_rows;
  sample_vocab_ = vocab;
}

void CudaBackend::sample(const float* logits, int vocab, SamplingBatch* batch) {
  batch->check();
  const int rows = batch->rows();
  LMD_CHECK(sample_max_rows_ > 0 && vocab == sample_vocab_ && rows <= sample_max_rows_)
      << "cuda backend: sample of " << rows << " rows x vocab " << vocab << ", reserved " << sample_max_rows_
      << " rows x vocab " << sample_vocab_ << " (reserve_sampling)";
  LMD_CHECK(is_device(logits, sizeof(float) * static_cast<size_t>(rows) * vocab))
      << "cuda backend: sample: the logits must be device memory from alloc()";
  batch->tokens.assign(rows, -1);
  if (rows == 0) return;
  use_device();
  // Rows the host samples run the greedy rule here (cheap) and their result is dropped.
  h_sample_params_.resize(rows);
  h_sample_counts_.clear();
  for (int b = 0; b < rows; ++b) {
    const bool dev = batch->on_device[b] != 0;
    const SamplingParams& p = batch->params[b];
    h_sample_params_[b] = dev ? p : SampleParams{0.0f, 0, 1.0f, 0.0f, 1.0f, 0.0f, 0.0f};
    if (!dev) continue;
    for (int32_t j = batch->seen_offsets[b]; j < batch->seen_offsets[b + 1]; ++j)
      h_sample_counts_.push_back(RowTokenCount{b, batch->seen[j].token, batch->seen[j].count});
  }
  const int n_seen = static_cast<int>(h_sample_counts_.size());
  for (int b = 0; b < rows; ++b) {
    if (!batch->on_device[b]) continue;
    for (int32_t j = batch->generated_offsets[b]; j < batch->generated_offsets[b + 1]; ++j)
      h_sample_counts_.push_back(RowTokenCount{b, batch->generated[j].token, batch->generated[j].count});
  }
  const int n_generated = static_cast<int>(h_sample_counts_.size()) - n_seen;
  // Only the penalised rows' counts travel; the dense arrays are zero elsewhere.
  upload(sample_params_, h_sample_params_);
  LMD_CUDA_OK(cudaMemcpyAsync(sample_uniform_.get<double>(0), batch->uniform.data(), sizeof(double) * rows,
                              cudaMemcpyHostToDevice, stream_));
  LMD_CUDA_OK(cudaMemcpyAsync(sample_ban_offsets_.get<int32_t>(0), batch->ban_offsets.data(),
                              sizeof(int32_t) * (rows + 1), cudaMemcpyHostToDevice, stream_));
  upload(sample_bans_, batch->bans);
  upload(sample_counts_, h_sample_counts_);
  const RowTokenCount* counts = sample_counts_.get<RowTokenCount>(0);
  int32_t* seen = sample_seen_.get<int32_t>(0);
  int32_t* generated = sample_generated_.get<int32_t>(0);
  int32_t* out = sample_out_.get<int32_t>(0);
  {
    StreamScope s(stream_);
    scatter_counts(counts, n_seen, vocab, seen, false);
    scatter_counts(counts + n_seen, n_generated, vocab, generated, false);
    check_launch("scatter_counts");
    const SampleArgs a{logits,
                       vocab,
                       sample_params_.get<SampleParams>(0),
                       seen,
                       generated,
                       sample_ban_offsets_.get<int32_t>(0),
                       sample_bans_.get<int32_t>(0),
                       sample_uniform_.get<double>(0),
                       sample_work_.get<float>(0),
                       out,
                       nullptr};
    cuda::sample(a, rows);
    check_launch("sample");
    scatter_counts(counts, n_seen, vocab, seen, true);
    scatter_counts(counts + n_seen, n_generated, vocab, generated, true);
    check_launch("scatter_counts (clear)");
  }
  h_sample_out_.resize(rows);
  LMD_CUDA_OK(cudaMemcpyAsync(h_sample_out_.data(), out, sizeof(int32_t) * rows, cudaMemcpyDeviceToHost, stream_));
  LMD_CUDA_OK(cudaStreamSynchronize(stream_));
  for (int b = 0; b < rows; ++b) {
    if (!batch->on_device[b]) continue;
    LMD_CHECK_KIND(h_sample_out_[b] >= -1 && h_sample_out_[b] < vocab, kInternal)
        << "cuda backend: sample kernel returned token " << h_sample_out_[b] << " for row " << b << " (vocab "
        << vocab << ")";
    batch->tokens[b] = h_sample_out_[b];
  }
}

void CudaBackend::set_kv_static_params(int layer, const float* scale_zp4) {
  LMD_CHECK(layer >= 0) << "set_kv_static_params: layer " << layer;
  for (int i = 0; i < 2; ++i)
    LMD_CHECK(scale_zp4[2 * i] > 0.0f && std::isfinite(scale_zp4[2 * i + 1]))
        << "set_kv_static_params: layer " << layer << (i ? " v" : " k") << " scale " << scale_zp4[2 * i] << ", zp "
        << scale_zp4[2 * i + 1];
  if (h_kv_static_.size() < static_cast<size_t>(layer + 1) * 8) {
    h_kv_static_.resize(static_cast<size_t>(layer + 1) * 8, 0.0f);
    kv_static_set_.resize(layer + 1, false);
  }
  for (int i = 0; i < 2; ++i) {
    float* d = &h_kv_static_[static_cast<size_t>(layer) * 8 + 4 * i];
    d[0] = scale_zp4[2 * i];
    d[1] = scale_zp4[2 * i + 1];
    d[2] = d[1] - 128.0f * d[0];  // the row's zero for the unsigned codes, as llama.cc's host path
    d[3] = 0.0f;
  }
  kv_static_set_[layer] = true;
  kv_static_dirty_ = true;
}

void CudaBackend::rope_kv_write(int layer, float* q, float* k, const float* v, int n) {
  LMD_CHECK(n == step_tokens_) << "rope_kv_write: " << n << " tokens, the step has " << step_tokens_;
  LMD_CHECK(layer >= 0 && layer < layout_.num_layer) << "rope_kv_write: layer " << layer;
  use_device();
  const bool kv_static = layer < static_cast<int>(kv_static_set_.size()) && kv_static_set_[layer];
  LMD_CHECK(!kv_static || layout_.kind == KvKind::kInt8)
      << "rope_kv_write: layer " << layer << " has static kv_qparams but the KV cache is not int8 (kind "
      << static_cast<int>(layout_.kind) << ")";
  if (kv_static && kv_static_dirty_) {
    upload(kv_static_, h_kv_static_);  // host copy stays alive (member) until the copy ran
    kv_static_dirty_ = false;
  }
  RopeKvArgs a{};
  a.kv_static = kv_static ? kv_static_.get<float>(0) : nullptr;
  a.q = q;
  a.k = k;
  a.v = v;
  a.cos = cos_.get<float>(0);
  a.sin = sin_.get<float>(0);
  a.logn = has_logn_ ? logn_.get<float>(0) : nullptr;
  a.kv_block = kv_block_.get<int32_t>(0);
  a.kv_slot = kv_slot_.get<int32_t>(0);
  a.kv_pool = kv_pool_;
  a.kv = KvView::of(layout_);
  a.layer = layer;
  a.n = n;
  a.head_num = params_.head_num;
  a.rot_dim = params_.rot_dim;
  a.adjacent = params_.rope_pairing == RopePairing::kAdjacent;
  StreamScope s(stream_);
  cuda::rope_kv_write(a);
  check_launch("rope_kv_write");
}

void CudaBackend::attention(int layer, const float* q, float* out, int n) {
  LMD_CHECK(n == step_tokens_) << "attention: " << n << " tokens, the step has " << step_tokens_;
  LMD_CHECK(layer >= 0 && layer < layout_.num_layer) << "attention: layer " << layer;
  use_device();
  if (n <= 0) return;
  const size_t parts = static_cast<size_t>(n) * params_.head_num * num_splits_;
  AttentionArgs a{};
  a.q = q;
  a.out = out;
  a.kv_len = kv_len_.get<int32_t>(0);
  a.table_offset = table_offset_.get<int32_t>(0);
  a.blocks = blocks_.get<int32_t>(0);
  a.kv_pool = kv_pool_;
  a.kv = KvView::of(layout_);
  a.layer = layer;
  a.rows = n;
  a.head_num = params_.head_num;
  a.scale = params_.softmax_scale;
  a.split_len = opt_.attention_split_len;
  a.num_splits = num_splits_;
  a.part_o = part_o_.get<float>(parts * params_.head_dim);
  a.part_ml = part_ml_.get<float>(parts * 2);

  // The step's sequences are the runs of rows sharing a block table with consecutive
  // positions (begin_step's per-row kv_len / table offset). Sequences with many rows go to
  // the tensor-core prefill kernel; the others (decode rows, short chunks, and every row of
  // an f32 cache) to the split-K decode kernel, one launch per run of consecutive rows.
  std::vector<PrefillSeq> long_seqs;
  std::vector<std::pair<int, int>> short_runs;  // [first row, end row)
  for (int r = 0; r < n;) {
    int e = r + 1;
    while (e < n && h_table_offset_[e] == h_table_offset_[r] && h_kv_len_[e] == h_kv_len_[e - 1] + 1) ++e;
    if (use_prefill_attention(a.kv, params_.head_num, e - r)) {
      long_seqs.push_back(PrefillSeq{r, e - r, h_kv_len_[r] - 1, h_table_offset_[r]});
    } else if (!short_runs.empty() && short_runs.back().second == r) {
      short_runs.back().second = e;
    } else {
      short_runs.emplace_back(r, e);
    }
    r = e;
  }
  StreamScope s(stream_);
  const int64_t qd = static_cast<int64_t>(params_.head_num) * params_.head_dim;
  for (const auto& [b, e] : short_runs) {
    AttentionArgs run = a;
    run.q = q + b * qd;
    run.out = out + b * qd;
    run.kv_len = a.kv_len + b;
    run.table_offset = a.table_offset + b;
    run.rows = e - b;
    // Splits for this run's longest row only (a long prefill beside it no longer sets them).
    const int run_len = *std::max_element(h_kv_len_.begin() + b, h_kv_len_.begin() + e);
    run.num_splits = std::min(num_splits_, (run_len + run.split_len - 1) / run.split_len);
    decode_attention(run);
    check_launch("attention");
  }
  if (long_seqs.empty()) return;
  const std::vector<PrefillTile> tiles = prefill_tiles(long_seqs, params_.head_num / params_.kv_head_num);
  if (tiles.size() != h_prefill_tiles_.size() ||
      std::memcmp(tiles.data(), h_prefill_tiles_.data(), tiles.size() * sizeof(PrefillTile)) != 0) {
    h_prefill_tiles_ = tiles;  // kept alive for the async copy
    upload(prefill_tiles_, h_prefill_tiles_);
  }
  PrefillAttentionArgs pa{};
  pa.q = q;
  pa.out = out;
  pa.tiles = prefill_tiles_.get<PrefillTile>(0);
  pa.num_tiles = static_cast<int>(tiles.size());
  pa.blocks = a.blocks;
  pa.kv_pool = kv_pool_;
  pa.kv = a.kv;
  pa.layer = layer;
  pa.head_num = params_.head_num;
  pa.scale = params_.softmax_scale;
  prefill_attention(pa);
  check_launch("prefill attention");
}

}  // namespace

std::unique_ptr<Backend> create_backend(const CudaBackendOptions& opt) { return std::make_unique<CudaBackend>(opt); }

}  // namespace cuda

// ---- public entry points (cuda_backend.h); under the shim they describe its one device ----

std::vector<CudaDeviceInfo> cuda_devices(std::string* why_none) {
  std::vector<CudaDeviceInfo> out;
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error so later calls start clean
    if (why_none) *why_none = std::string("cudaGetDeviceCount: ") + cudaGetErrorString(e);
    return out;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
    CudaDeviceInfo d;
    d.index = i;
    d.name = p.name;
    d.total_bytes = p.totalGlobalMem;
    d.cc_major = p.major;
    d.cc_minor = p.minor;
    out.push_back(d);
  }
  if (out.empty() && why_none) *why_none = "no CUDA device found";
  return out;
}

bool cuda_device_memory(int device, DeviceMemory* out, std::string* why) {
  int current = 0;
  cudaError_t e = cudaGetDevice(&current);
  if (e == cudaSuccess && current != device) e = cudaSetDevice(device);
  size_t free_b = 0, total_b = 0;
  if (e == cudaSuccess) e = cudaMemGetInfo(&free_b, &total_b);
  if (e != cudaSuccess) {
    cudaGetLastError();
    if (why) *why = std::string("cudaMemGetInfo on device ") + std::to_string(device) + ": " + cudaGetErrorString(e);
    return false;
  }
  if (current != device) cudaSetDevice(current);
  out->free_bytes = free_b;
  out->total_bytes = total_b;
  return true;
}

std::unique_ptr<Backend> create_cuda_backend(const CudaBackendOptions& opt) {
  std::string why;
  const std::vector<CudaDeviceInfo> devs = cuda_devices(&why);
  LMD_CHECK_KIND(!devs.empty(), kUnsupported) << "CUDA backend: no CUDA device (" << why << ")";
  LMD_CHECK_KIND(opt.device >= 0 && opt.device < static_cast<int>(devs.size()), kInvalidArgument)
      << "CUDA backend: device " << opt.device << " does not exist (" << devs.size() << " visible)";
  return cuda::create_backend(opt);
}

void register_cuda_device_kind() {
  DeviceKind k;
  k.name = "cuda";
  k.devices = [](std::string* why_none) {
    std::vector<DeviceInfo> out;
    for (const CudaDeviceInfo& d : cuda_devices(why_none)) {
      DeviceInfo i;
      i.index = d.index;
      i.name = d.name;
      i.detail = "sm_" + std::to_string(d.cc_major) + std::to_string(d.cc_minor);
      i.total_bytes = d.total_bytes;
      out.push_back(i);
    }
    return out;
  };
  k.memory = [](int device, DeviceMemory* out, std::string* why) { return cuda_device_memory(device, out, why); };
  k.create = [](const BackendOptions& o) {
    CudaBackendOptions co;
    co.device = o.device;
    return create_cuda_backend(co);
  };
#if defined(LMD_CUDA_SHIM)
  // Under the shim "device" memory is host memory: the CPU all-reduce stands in for NCCL,
  // which the shim does not cover.
  k.communicators = [](const std::vector<int>& devices) {
    return create_cpu_communicators(static_cast<int>(devices.size()));
  };
#else
  k.communicators = [](const std::vector<int>& devices) { return create_nccl_communicators(devices); };
  k.libraries.push_back(LibraryProbe{"cuBLAS", [] { return cublas_library(); }, ""});
  if (nccl_built())
    k.libraries.push_back(LibraryProbe{"NCCL", [] { return nccl_library(); }, ""});
  else
    k.libraries.push_back(LibraryProbe{"NCCL", nullptr, "nccl.h not found at configure time; --device cuda --tp N is unavailable"});
#endif
  register_device_kind(std::move(k));
}

}  // namespace lmd
