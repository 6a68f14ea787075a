// Helpers shared by the CUDA backend's op tests under the shim (tests/cuda_backend/
// backend_ops_test.cc) and on a real device (tests/cuda_device/): random inputs and weights of
// every format, a device buffer owned by a Backend, a tolerance check relative to the largest
// expected magnitude, and the (CUDA, CPU exact) backend pair under comparison.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "kernels/common/half.h"
#include "core/weights.h"
#include "tests/test_util/random.h"

namespace lmd {
namespace backend_test {

using test_util::randn;

// A matrix [rows, cols] in `dtype` (random codes and scales for the quantised formats).
inline WeightTensor random_weight(DType dtype, int64_t rows, int64_t cols, int group, uint32_t seed) {
  std::mt19937 rng(seed);
  auto fp16_bytes = [](std::vector<uint8_t>& out, float v) {
    const uint16_t h = f32_to_fp16(v);
    out.push_back(static_cast<uint8_t>(h & 0xff));
    out.push_back(static_cast<uint8_t>(h >> 8));
  };
  if (dtype == DType::kInt4) {
    std::vector<uint8_t> nib(rows * cols / 2), sm;
    for (auto& b : nib) b = static_cast<uint8_t>(rng());
    for (int64_t g = 0; g < rows * cols / group; ++g) {
      const float d = 0.01f + 0.001f * static_cast<float>(rng() % 50);
      fp16_bytes(sm, d);
      fp16_bytes(sm, -7.5f * d);
    }
    return make_int4(rows, cols, group, std::move(nib), std::move(sm));
  }
  if (dtype == DType::kI8) {
    std::vector<uint8_t> q(rows * cols), sc;
    for (auto& b : q) b = static_cast<uint8_t>(rng());
    for (int64_t g = 0; g < rows * cols / group; ++g) fp16_bytes(sc, 0.001f + 0.0001f * static_cast<float>(rng() % 50));
    return make_int8_grouped(rows, cols, group, std::move(q), std::move(sc));
  }
  const std::vector<float> v = randn(static_cast<size_t>(rows * cols), seed, 0.1f);
  return make_dense(dtype, {rows, cols}, v.data());
}

// Device copy of a host vector on `b`, freed with the object.
template <typename T>
class Dev {
 public:
  Dev(Backend& b, const std::vector<T>& host) : b_(b), n_(host.size()) {
    p_ = static_cast<T*>(b.alloc(std::max<size_t>(1, n_) * sizeof(T)));
    if (n_) b.copy_to_device(p_, host.data(), n_ * sizeof(T));
  }
  Dev(Backend& b, size_t n) : Dev(b, std::vector<T>(n)) {}
  ~Dev() { b_.free(p_); }
  T* get() const { return p_; }
  std::vector<T> host() const {
    std::vector<T> v(n_);
    b_.synchronize();
    if (n_) b_.copy_to_host(v.data(), p_, n_ * sizeof(T));
    return v;
  }

 private:
  Backend& b_;
  size_t n_;
  T* p_ = nullptr;
};

inline void expect_close(const std::vector<float>& got, const std::vector<float>& want, float rel, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  float mag = 1e-20f;
  for (float v : want) mag = std::max(mag, std::fabs(v));
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!(std::fabs(got[i] - want[i]) <= rel * mag)) {
      if (bad++ == 0) first = i;
    }
  }
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << got.size() << " values differ by more than " << rel
                     << " x " << mag << "; first at " << first << ": " << got[first] << " vs " << want[first];
}

// The backend under test (CUDA: the shim or a device) and the oracle (CPU, 1 thread, exact).
struct Pair {
  std::unique_ptr<Backend> gpu = create_cuda_backend();
  std::unique_ptr<Backend> cpu = create_cpu_backend(CpuBackendOptions{1, true, false});
};

// Embedding lookup of 5 tokens (repeats included) in a [37, 128] table of `dt`: exact.
inline void check_embedding(Pair& p, DType dt) {
  const WeightTensor w = random_weight(dt, 37, 128, 32, 5);
  auto wg = p.gpu->upload_weight(w);
  auto wc = p.cpu->upload_weight(w);
  const std::vector<int32_t> tok = {0, 36, 5, 5, 17};
  Dev<float> out(*p.gpu, tok.size() * 128);
  std::vector<float> ref(tok.size() * 128);
  p.gpu->embedding(*wg, tok.data(), static_cast<int>(tok.size()), out.get());
  p.cpu->embedding(*wc, tok.data(), static_cast<int>(tok.size()), ref.data());
  expect_close(out.host(), ref, 0.0f, "embedding");
}

// rms_norm and silu_mul (1e-6 of the largest value), add and gather_rows (exact) on n rows of dim.
inline void check_elementwise(Pair& p, int n, int dim, const std::vector<int32_t>& rows) {
  const auto x = randn(static_cast<size_t>(n) * dim, 1), y = randn(static_cast<size_t>(n) * dim, 2),
             w = randn(dim, 3);
  Dev<float> dx(*p.gpu, x), dy(*p.gpu, y), dw(*p.gpu, w), dout(*p.gpu, static_cast<size_t>(n) * dim);
  std::vector<float> ref(static_cast<size_t>(n) * dim);

  p.gpu->rms_norm(dx.get(), dw.get(), n, dim, 1e-5f, dout.get());
  p.cpu->rms_norm(x.data(), w.data(), n, dim, 1e-5f, ref.data());
  expect_close(dout.host(), ref, 1e-6f, "rms_norm");

  p.gpu->silu_mul(dx.get(), dy.get(), n, dim, dout.get());
  p.cpu->silu_mul(x.data(), y.data(), n, dim, ref.data());
  expect_close(dout.host(), ref, 1e-6f, "silu_mul");

  std::vector<float> xc = x;
  p.gpu->add(dx.get(), dy.get(), x.size());
  p.cpu->add(xc.data(), y.data(), xc.size());
  expect_close(dx.host(), xc, 0.0f, "add");

  const int nr = static_cast<int>(rows.size());
  p.gpu->gather_rows(dy.get(), rows.data(), nr, dim, dout.get());
  p.cpu->gather_rows(y.data(), rows.data(), nr, dim, ref.data());
  std::vector<float> got = dout.host();
  got.resize(static_cast<size_t>(nr) * dim);
  ref.resize(got.size());
  expect_close(got, ref, 0.0f, "gather_rows");
}

// linear over n tokens of 256 columns: a fused group of two outputs (70 rows into a strided
// output; 33 rows with a bias accumulated onto it) on device memory, then 70 rows into host
// memory (staged by the backend).
// Tolerance (relative to the largest |y|): the GEMVs are exact fp32 math (2e-6). The n >= 16
// paths (the tensor-core W4A16 GEMM for int4, cuBLAS or its shim twin for f16 / bf16) round
// the activations to f16 (int4 also its dequantised weights; f16 weights are exact), bf16 to
// bf16: relative 2^-11 (2^-8) per product, and with 256 random terms Σ|w x| is ~5x the largest
// |y|, so 2^-11 * 5 * 2 ≈ 5e-3 and 2^-8 * 5 * 2 ≈ 4e-2 (~a few percent of one wrongly indexed term).
inline void check_linear(Pair& p, DType dt, int group, int n) {
  const int cols = 256;
  const bool gemm = n >= 16 && (dt == DType::kInt4 || dt == DType::kF16 || dt == DType::kBF16);
  const float tol = !gemm ? 2e-6f : dt == DType::kBF16 ? 4e-2f : 5e-3f;
  const WeightTensor wa = random_weight(dt, 70, cols, group, 11), wb = random_weight(dt, 33, cols, group, 12);
  auto ga = p.gpu->upload_weight(wa), gb = p.gpu->upload_weight(wb);
  auto ca = p.cpu->upload_weight(wa), cb = p.cpu->upload_weight(wb);
  const auto x = randn(static_cast<size_t>(n) * cols, 13), bias = randn(33, 14);
  const int ld = 70 + 33;
  const auto y0 = randn(static_cast<size_t>(n) * ld, 15);
  Dev<float> dx(*p.gpu, x), dbias(*p.gpu, bias), dy(*p.gpu, y0);
  std::vector<float> ry = y0;
  const LinearOut go[2] = {{ga.get(), nullptr, dy.get(), ld, false}, {gb.get(), dbias.get(), dy.get() + 70, ld, true}};
  const LinearOut co[2] = {{ca.get(), nullptr, ry.data(), ld, false}, {cb.get(), bias.data(), ry.data() + 70, ld, true}};
  p.gpu->linear(dx.get(), n, go, 2);
  p.cpu->linear(x.data(), n, co, 2);
  expect_close(dy.host(), ry, tol, "fused linear");

  std::vector<float> host_y(static_cast<size_t>(n) * 70, 0.0f), ref_y(host_y.size());
  const LinearOut gh{ga.get(), nullptr, host_y.data(), 0, false};
  const LinearOut ch{ca.get(), nullptr, ref_y.data(), 0, false};
  p.gpu->linear(dx.get(), n, &gh, 1);
  p.cpu->linear(x.data(), n, &ch, 1);
  expect_close(host_y, ref_y, tol, "linear into host memory");
}

}  // namespace backend_test
}  // namespace lmd
