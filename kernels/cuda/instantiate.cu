// nvcc instantiations of the kernels in kernels/cuda for sm_80 / sm_90, so the build (with
// ptxas spills / local memory as errors) covers exactly what the shim tests run.
//
// Non-template __global__ kernels get a strong host stub in every TU that includes their
// header, so each such header is compiled in exactly one .cu of the library:
// src/backend/cuda/cuda_backend.cu compiles embedding.cuh, rope_kv_write.cuh,
// decode_attention.cuh and elementwise.cuh (all their kernels are used there) and
// sampling.cuh (template kernels, used by Backend::sample); this file compiles the template
// kernels' remaining instantiations.
#include "kernels/cuda/gemv.cuh"
#include "kernels/cuda/mma.h"
#include "kernels/cuda/prefill_attention.cuh"
#include "kernels/cuda/rms_norm.cuh"
#include "kernels/cuda/silu_mul.cuh"
#include "kernels/cuda/w4a16_gemv.cuh"
#include "kernels/cuda/w4a16_gemm.cuh"

namespace lmd::cuda {

template void rms_norm<float>(float*, const float*, const float*, int, int, float, float*);
template void rms_norm<__half>(__half*, const __half*, const __half*, int, int, float, __half*);
template void rms_norm<__nv_bfloat16>(__nv_bfloat16*, const __nv_bfloat16*, const __nv_bfloat16*, int, int, float,
                                      __nv_bfloat16*);
template void silu_mul<float>(const float*, const float*, int64_t, float*);
template void silu_mul<__half>(const __half*, const __half*, int64_t, __half*);
template void w4a16_gemv<float>(const W4Matrix&, const float*, int, const float*, float*, int, bool);
template void w4a16_gemv<__half>(const W4Matrix&, const __half*, int, const float*, float*, int, bool);
template void w4a16_gemm<float>(const W4Packed&, const float*, int, const float*, float*, int, bool);
template void w4a16_gemm<__half>(const W4Packed&, const __half*, int, const float*, float*, int, bool);
template void gemv<DenseMatrix<float>>(const DenseMatrix<float>&, const float*, int, const float*, float*, int, bool);
template void gemv<DenseMatrix<__half>>(const DenseMatrix<__half>&, const float*, int, const float*, float*, int, bool);
template void gemv<DenseMatrix<__nv_bfloat16>>(const DenseMatrix<__nv_bfloat16>&, const float*, int, const float*,
                                               float*, int, bool);

// The non-template entry points, odr-used so their kernels are compiled.
void (*kGemvInt8)(const Int8Matrix&, const float*, int, const float*, float*, int, bool) = &gemv_int8;
// prefill_attention.cuh: only template kernels (every head dim x KV kind through this).
void (*kPrefillAttention)(const PrefillAttentionArgs&) = &prefill_attention;

}  // namespace lmd::cuda
