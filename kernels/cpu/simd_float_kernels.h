// The fp32 kernels every SIMD table shares, written once over a vector traits struct V
// (simd_vec.h: Avx2F32, Avx512F32) and instantiated by each ISA's kernel file with that file's
// -m flags. Contracts are those of the Kernels table (cpu_kernels.h); the scalar oracle is
// reference.cc.
//
// Shape of every loop: whole V::kWidth vectors, then one partial vector for the last
// n % kWidth values (load_first / store_first), so no kernel has a scalar tail. Per element
// the partial vector computes exactly what a full one does, so a value's bits do not depend
// on its position in the row.
//
// Internal linkage on purpose (see simd_vec.h): each kernel file keeps its own copy.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels/cpu/simd_vec.h"

namespace lmd::cpu::simd {
namespace {

// exp(x) per lane: n = round(x log2 e), r = x - n ln2 (ln2 in two parts), a degree-6
// polynomial for e^r on |r| <= ln2/2, times 2^n. Relative error ~2 ulp; x is clamped to
// [-87.3, 88.7] (results below FLT_MIN flush towards 0).
template <class V>
typename V::Reg exp_ps(typename V::Reg x) {
  x = V::min(V::max(x, V::set1(-87.33654f)), V::set1(88.72283f));
  const typename V::Reg n = V::round(V::mul(x, V::set1(1.44269504088896341f)));
  typename V::Reg r = V::fnmadd(n, V::set1(0.693145751953125f), x);
  r = V::fnmadd(n, V::set1(1.428606765330187045e-06f), r);
  typename V::Reg p = V::set1(1.9875691500e-4f);
  p = V::fmadd(p, r, V::set1(1.3981999507e-3f));
  p = V::fmadd(p, r, V::set1(8.3334519073e-3f));
  p = V::fmadd(p, r, V::set1(4.1665795894e-2f));
  p = V::fmadd(p, r, V::set1(1.6666665459e-1f));
  p = V::fmadd(p, r, V::set1(5.0000001201e-1f));
  p = V::fmadd(p, V::mul(r, r), V::add(r, V::set1(1.0f)));
  return V::scale_pow2(p, n);
}

// Σ a[i] b[i]: two accumulators over 2 vectors per step, then one vector, then the partial
// one (into the second accumulator), then one horizontal sum.
template <class V>
float dot_f32(const float* a, const float* b, int64_t n) {
  constexpr int64_t W = V::kWidth;
  typename V::Reg acc0 = V::zero(), acc1 = V::zero();
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    acc0 = V::fmadd(V::load(a + i), V::load(b + i), acc0);
    acc1 = V::fmadd(V::load(a + i + W), V::load(b + i + W), acc1);
  }
  if (i + W <= n) {
    acc0 = V::fmadd(V::load(a + i), V::load(b + i), acc0);
    i += W;
  }
  if (i < n) acc1 = V::fmadd(V::load_first(a + i, n - i, 0.0f), V::load_first(b + i, n - i, 0.0f), acc1);
  return V::reduce_add(V::add(acc0, acc1));
}

// out[i] = scale * dot(q, k + i*dim) for i < rows.
template <class V>
void attn_scores(const float* q, const float* k, int64_t rows, int64_t dim, float scale, float* out) {
  for (int64_t i = 0; i < rows; ++i) out[i] = scale * dot_f32<V>(q, k + i * dim, dim);
}

// out = x / sqrt(mean(x^2) + eps) * w
template <class V>
void rms_norm(const float* x, const float* w, int64_t n, float eps, float* out) {
  constexpr int64_t W = V::kWidth;
  const float ss = dot_f32<V>(x, x, n);
  const typename V::Reg inv = V::set1(1.0f / std::sqrt(ss / static_cast<float>(n) + eps));
  int64_t i = 0;
  for (; i + W <= n; i += W) V::store(out + i, V::mul(V::mul(V::load(x + i), inv), V::load(w + i)));
  if (i < n)
    V::store_first(out + i, n - i, V::mul(V::mul(V::load_first(x + i, n - i, 0.0f), inv), V::load_first(w + i, n - i, 0.0f)));
}

// out = silu(g) * u = g / (1 + exp(-g)) * u
template <class V>
void silu_mul(const float* g, const float* u, int64_t n, float* out) {
  constexpr int64_t W = V::kWidth;
  const typename V::Reg one = V::set1(1.0f);
  auto one_vec = [&](typename V::Reg x, typename V::Reg y) {
    return V::mul(V::div(x, V::add(one, exp_ps<V>(V::sub(V::zero(), x)))), y);
  };
  int64_t i = 0;
  for (; i + W <= n; i += W) V::store(out + i, one_vec(V::load(g + i), V::load(u + i)));
  if (i < n) V::store_first(out + i, n - i, one_vec(V::load_first(g + i, n - i, 0.0f), V::load_first(u + i, n - i, 0.0f)));
}

// x[i] = exp(x[i] - max) / Σ exp(x[j] - max), in place.
template <class V>
void softmax(float* x, int64_t n) {
  constexpr int64_t W = V::kWidth;
  if (n <= 0) return;
  typename V::Reg vmx = V::set1(x[0]);
  int64_t i = 0;
  for (; i + W <= n; i += W) vmx = V::max(vmx, V::load(x + i));
  if (i < n) vmx = V::max(vmx, V::load_first(x + i, n - i, -std::numeric_limits<float>::infinity()));
  const typename V::Reg vm = V::set1(V::reduce_max(vmx));
  typename V::Reg vs = V::zero();
  for (i = 0; i + W <= n; i += W) {
    const typename V::Reg e = exp_ps<V>(V::sub(V::load(x + i), vm));
    V::store(x + i, e);
    vs = V::add(vs, e);
  }
  if (i < n) {
    const typename V::Reg e = exp_ps<V>(V::sub(V::load_first(x + i, n - i, 0.0f), vm));
    V::store_first(x + i, n - i, e);
    vs = V::add(vs, V::keep_first(e, n - i));
  }
  const typename V::Reg inv = V::set1(1.0f / V::reduce_add(vs));
  for (i = 0; i + W <= n; i += W) V::store(x + i, V::mul(V::load(x + i), inv));
  if (i < n) V::store_first(x + i, n - i, V::mul(V::load_first(x + i, n - i, 0.0f), inv));
}

}  // namespace
}  // namespace lmd::cpu::simd
